"""Replay rebuilds detector state from an event log in event-time order."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import msgspec
import pytest

from api.cli import main
from engine.engine import Engine
from engine.pack import load_pack_file
from engine.replay import in_event_time, replay
from engine.simulate import fleet_vehicles, simulate, write_jsonl

ROOT = Path(__file__).resolve().parents[2]
PACKS = {
    "payment": ROOT / "rulepacks" / "cards.rules",
    "ato": ROOT / "rulepacks" / "account_takeover.rules",
    "fleet": ROOT / "rulepacks" / "fleet_fuel.rules",
}


SEED = 17
#: the fleet pack reads the vehicles' tank capacities
REFS = {"vehicles": fleet_vehicles(SEED)}


def live(stream: str, events: list[Any], batch: int) -> list[Any]:
    engine = Engine([load_pack_file(PACKS[stream])])
    for record in REFS["vehicles"]:
        engine.set_ref("vehicles", record)
    out: list[Any] = []
    for i in range(0, len(events), batch):
        out.extend(engine.evaluate_many(events[i : i + batch]))
    return out


@pytest.mark.parametrize("stream", ["payment", "ato", "fleet"])
def test_replay_gives_the_decisions_live_evaluation_gave(stream: str) -> None:
    events = list(simulate(stream, 3000, SEED))
    assert events == in_event_time(events)  # the simulator's streams are in event-time order
    expected = live(stream, events, 1)  # one event per call, as a live API would
    assert live(stream, events, 250) == expected
    got = replay([load_pack_file(PACKS[stream])], events, refs=REFS)
    assert got == expected
    assert sum(len(d.hits) for d in expected) > 0


@pytest.mark.parametrize("stream", ["payment", "ato", "fleet"])
def test_a_shuffled_log_replays_to_the_ordered_decisions(stream: str) -> None:
    events = list(simulate(stream, 3000, SEED))
    # shuffle the times; events at the same time (ato: a login and its session) keep their order
    at: dict[Any, list[Any]] = {}
    for event in events:
        at.setdefault(event.timestamp, []).append(event)
    groups = list(at.values())
    random.Random(5).shuffle(groups)
    shuffled = [e for group in groups for e in group]
    assert shuffled != events
    pack = load_pack_file(PACKS[stream])
    assert replay([pack], shuffled, refs=REFS) == replay([pack], events, refs=REFS)
    assert replay([pack], shuffled, refs=REFS) == live(stream, events, 1000)


def test_ties_keep_their_log_order() -> None:
    events = list(simulate("payment", 20, 1))
    same = events[0].timestamp
    tied = [msgspec.structs.replace(e, timestamp=same) for e in events]
    assert in_event_time(tied[::-1]) == tied[::-1]


def test_labels_are_applied_from_their_known_time() -> None:
    events = list(simulate("payment", 3000, 19))
    labels = [
        (e.id, True, e.timestamp + dt.timedelta(days=1)) for e in events if e.attributes.get("is_fraud")
    ]
    assert labels
    pack = load_pack_file(PACKS["payment"])
    engine = Engine([pack])
    for label in labels:
        engine.context.set_label(*label)
    expected = engine.evaluate_many(events)
    assert replay([pack], events[::-1], labels=labels) == expected


def test_vigil_replay_prints_decisions_as_json_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = list(simulate("payment", 400, 23))
    shuffled = events[:]
    random.Random(1).shuffle(shuffled)
    log = tmp_path / "events.jsonl"
    with open(log, "wb") as fh:
        write_jsonl(shuffled, fh)
    out = tmp_path / "decisions.jsonl"
    assert main(["replay", "--pack", str(PACKS["payment"]), "--events", str(log), "--out", str(out)]) == 0
    lines = out.read_bytes().splitlines()
    expected = live("payment", events, 100)
    assert [msgspec.json.decode(line)["event_id"] for line in lines] == [d.event_id for d in expected]
    assert lines == [msgspec.json.encode(d) for d in expected]
    assert main(["replay", "--pack", str(PACKS["payment"]), "--events", str(log)]) == 0
    assert capsys.readouterr().out.encode().splitlines() == lines


def test_vigil_replay_reports_a_missing_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.jsonl"
    assert main(["replay", "--pack", str(PACKS["payment"]), "--events", str(missing)]) == 1
    assert "cannot read" in capsys.readouterr().err
