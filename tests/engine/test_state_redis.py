"""The Redis state store against a real Redis server (started by `make test`).

The detectors must decide exactly as on the memory store, every key must expire, and
two real processes sharing one Redis must get the counts one process gets.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from engine.decision import Decision
from engine.detectors.amounts import AmountProfile
from engine.detectors.base import StateFamily
from engine.detectors.graph import LinkGraph
from engine.detectors.windows import EventLog
from engine.engine import Engine
from engine.pack import CompiledPack, load_pack_file
from engine.simulate import fleet_vehicles, simulate
from engine.state import MemoryStore
from engine.state_redis import RedisStore, store_for

ROOT = Path(__file__).resolve().parents[2]
PACKS = {
    "payment": ROOT / "rulepacks" / "cards.rules",
    "ato": ROOT / "rulepacks" / "account_takeover.rules",
    "fleet": ROOT / "rulepacks" / "fleet_fuel.rules",
}
BATCH = 100


@pytest.fixture
def store_url(redis_url: str) -> Iterator[tuple[str, str]]:
    """The Redis URL and a fresh tenant name, whose keys are deleted afterwards."""
    tenant = f"test-{uuid.uuid4().hex[:12]}"
    yield redis_url, tenant
    RedisStore.from_url(redis_url, tenant).clear()


def label_frauds(engine: Engine, events: Sequence[Any]) -> None:
    """Label the simulator's fraud events, each known a day after it happened."""
    for event in events:
        if event.attributes.get("is_fraud"):
            engine.context.set_label(event.id, True, event.timestamp + dt.timedelta(days=1))


def run_batches(engine: Engine, events: Sequence[Any], size: int = BATCH) -> list[Decision]:
    out: list[Decision] = []
    for i in range(0, len(events), size):
        out.extend(engine.evaluate_many(events[i : i + size]))
    return out


def test_keys_functions_name_the_entities_a_batch_touches() -> None:
    pack = load_pack_file(PACKS["payment"])
    linked = pack.link(MemoryStore().family)
    events = list(simulate("payment", 50, 1))
    keys = linked.keys["payment"](events, None, False)
    card_groups = [g for g, (_, dyn, _) in pack.generated.groups.items() if dyn == ("event.card_id",)]
    assert card_groups
    for group in card_groups:
        assert keys[group] == {e.card_id for e in events}
    fleet = load_pack_file(PACKS["fleet"])
    linked = fleet.link(MemoryStore().family)
    positions = [e for e in simulate("fleet", 300, 1) if type(e).__name__ == "VehiclePosition"]
    assert positions
    (fed,) = linked.keys["vehicle_position"](positions, None, False).values()
    assert fed == {e.vehicle_id for e in positions}


def test_linked_still_unpacks_as_evaluators_and_feeders() -> None:
    evaluators, feeders = load_pack_file(PACKS["fleet"]).link(MemoryStore().family)
    assert "fuel_purchase" in evaluators and "vehicle_position" in feeders


@pytest.mark.parametrize("stream", ["payment", "ato", "fleet"])
def test_redis_decides_exactly_as_memory(store_url: tuple[str, str], stream: str) -> None:
    url, tenant = store_url
    pack = load_pack_file(PACKS[stream])
    events = list(simulate(stream, 3000, 11))
    memory = Engine([pack])
    store = RedisStore.from_url(url, tenant)
    shared = Engine([pack], store=store)
    for engine in (memory, shared):
        label_frauds(engine, events)
        for record in fleet_vehicles(11):
            engine.set_ref("vehicles", record)
    expected = run_batches(memory, events)
    got = run_batches(shared, events)
    assert got == expected
    assert sum(len(d.hits) for d in expected) > 0
    assert store.stats["conflicts"] == 0 and store.stats["written"] > 0


def test_a_second_engine_continues_from_the_shared_state(store_url: tuple[str, str]) -> None:
    """State lives in Redis, not in the process: a new engine picks up where the first stopped."""
    url, tenant = store_url
    pack = load_pack_file(PACKS["payment"])
    events = list(simulate("payment", 2000, 5))
    expected = run_batches(Engine([pack]), events)
    first = Engine([pack], store=RedisStore.from_url(url, tenant))
    got = run_batches(first, events[:1000])
    second = Engine([pack], store=RedisStore.from_url(url, tenant))
    got += run_batches(second, events[1000:])
    assert got == expected


def test_every_key_expires(store_url: tuple[str, str]) -> None:
    url, tenant = store_url
    store = RedisStore.from_url(url, tenant)
    for stream in PACKS:
        engine = Engine([load_pack_file(PACKS[stream])], store=store)
        run_batches(engine, list(simulate(stream, 1000, 2)))
    keys = list(store.client.scan_iter(match=store.prefix + b"*", count=1000))
    assert len(keys) > 100
    ttls = [store.client.pttl(k) for k in keys]
    assert all(ttl > 0 for ttl in ttls), [k for k, t in zip(keys, ttls, strict=True) if t <= 0][:5]  # type: ignore[operator]


def test_a_family_without_export_is_refused(store_url: tuple[str, str]) -> None:
    url, tenant = store_url

    class Opaque(EventLog):
        export_key = StateFamily.export_key  # type: ignore[assignment]

    with pytest.raises(NotImplementedError):
        RedisStore.from_url(url, tenant).family("x", Opaque, 60.0)


# ---- two real processes


def _worker(
    url: str,
    tenant: str,
    events: list[Any],
    mine: list[int],
    turns: list[Any] | None,
    start: Any,
    results: Any,
    index: int,
) -> None:
    """Score the batches numbered ``mine``; with ``turns`` wait for this batch's turn."""
    pack = load_pack_file(PACKS["payment"])
    store = RedisStore.from_url(url, tenant)
    engine = Engine([pack], store=store)
    label_frauds(engine, events)
    start.wait()
    out: dict[int, list[Decision]] = {}
    for number in mine:
        batch = events[number * BATCH : (number + 1) * BATCH]
        if turns is not None:
            turns[number].wait()
        out[number] = engine.evaluate_many(batch)
        if turns is not None and number + 1 < len(turns):
            turns[number + 1].set()
    results.put((index, out, dict(store.stats)))


def _two_processes(
    url: str, tenant: str, events: list[Any], alternate: bool
) -> tuple[dict[int, list[Decision]], list[dict[str, int]]]:
    ctx = mp.get_context("fork")
    batches = (len(events) + BATCH - 1) // BATCH
    turns = [ctx.Event() for _ in range(batches)] if alternate else None
    if turns is not None:
        turns[0].set()
    start = ctx.Barrier(2)
    results = ctx.Queue()
    procs = [
        ctx.Process(
            target=_worker,
            args=(url, tenant, events, list(range(i, batches, 2)), turns, start, results, i),
        )
        for i in range(2)
    ]
    for p in procs:
        p.start()
    merged: dict[int, list[Decision]] = {}
    stats: list[dict[str, int]] = []
    for _ in procs:
        _, out, st = results.get(timeout=300)
        merged.update(out)
        stats.append(st)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return merged, stats


def _card_logs(store: MemoryStore | RedisStore, pack: CompiledPack) -> dict[str, list[tuple[float, float]]]:
    """Every card's windowed log (time, amount), sorted; cards idle past the retention left out.

    The memory store sweeps idle cards now and then; Redis lets them expire.
    """
    (group,) = [
        g
        for g, (fam, dyn, _) in pack.generated.groups.items()
        if fam == "EventLog" and dyn == ("event.card_id",)
    ]
    family = store.families[f"{pack.name}:{group}"]
    assert isinstance(family, EventLog)
    latest = max(times[-1] for times in family.times.values())
    return {
        k: sorted(zip(v, family.amounts[k], strict=True))
        for k, v in family.times.items()
        if v[-1] > latest - family.retention
    }


def test_two_processes_alternating_batches_get_the_single_process_decisions(
    store_url: tuple[str, str],
) -> None:
    url, tenant = store_url
    pack = load_pack_file(PACKS["payment"])
    events = list(simulate("payment", 2000, 21))
    single = Engine([pack])
    label_frauds(single, events)
    expected = run_batches(single, events)
    merged, stats = _two_processes(url, tenant, events, alternate=True)
    got = [d for number in sorted(merged) for d in merged[number]]
    assert got == expected
    assert sum(s["conflicts"] for s in stats) == 0


def test_two_concurrent_processes_lose_no_update(store_url: tuple[str, str]) -> None:
    url, tenant = store_url
    pack = load_pack_file(PACKS["payment"])
    events = list(simulate("payment", 3000, 22))
    single = Engine([pack])
    label_frauds(single, events)
    run_batches(single, events)
    merged, stats = _two_processes(url, tenant, events, alternate=False)
    assert sorted(merged) == list(range(len(events) // BATCH))
    # read back every card's log from Redis: each of the 3,000 events is in it exactly once
    reader = RedisStore.from_url(url, tenant)
    engine = Engine([pack], store=reader)
    cards = {e.card_id for e in events}
    loaded: dict[StateFamily, set[Any]] = {
        family: set(cards)
        for family in reader.families.values()
        if isinstance(family, EventLog | AmountProfile)
    }
    reader.run_batch(loaded, lambda: None)
    assert _card_logs(reader, pack) == _card_logs(single.store, pack)  # type: ignore[arg-type]
    # the amount profiles count every payment of every card, whichever process scored it
    (profile,) = [f for f in reader.families.values() if isinstance(f, AmountProfile)]
    (reference,) = [f for f in single.store.families.values() if isinstance(f, AmountProfile)]  # type: ignore[union-attr]
    assert {k: m.n for k, m in profile.entities.items()} == {k: m.n for k, m in reference.entities.items()}
    assert sum(m.n for m in profile.entities.values()) == len(events)
    del engine
    print("conflicts (re-run batches):", [s["conflicts"] for s in stats])


def test_the_store_follows_vigil_redis_url(monkeypatch: pytest.MonkeyPatch, redis_url: str) -> None:
    monkeypatch.delenv("VIGIL_REDIS_URL", raising=False)
    assert isinstance(store_for("acme"), MemoryStore)
    monkeypatch.setenv("VIGIL_REDIS_URL", redis_url)
    store = store_for("acme")
    assert isinstance(store, RedisStore) and store.prefix == b"vigil:{acme}:"


def test_a_failed_batch_leaves_no_trace(store_url: tuple[str, str]) -> None:
    """An exception in the middle of a batch writes nothing and leaves no half-done state."""
    url, tenant = store_url
    pack = load_pack_file(PACKS["payment"])
    events = list(simulate("payment", 600, 8))
    memory = Engine([pack])
    expected = run_batches(memory, events)
    engine = Engine([pack], store=RedisStore.from_url(url, tenant))
    got = run_batches(engine, events[:200])
    # other payments, then one without a timestamp: the evaluator raises after the first run
    broken = [*simulate("payment", 100, 99), {"kind": "payment", "id": "bad"}]
    with pytest.raises(TypeError):
        engine.evaluate_many(broken)
    got += run_batches(engine, events[200:])
    assert got == expected
    # the ring_size link graph (one record for the whole family) holds no link of the failed batch
    (graph,) = [f for f in engine.store.families.values() if isinstance(f, LinkGraph)]
    (reference,) = [f for f in memory.store.families.values() if isinstance(f, LinkGraph)]  # type: ignore[union-attr]
    assert graph.edges == reference.edges
