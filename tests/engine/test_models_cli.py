"""`vigil train` and `vigil models list`: features from the pack, labels from events or a file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from api.cli import main
from engine.engine import Engine
from engine.models import ModelStore, Scorer
from engine.pack import load_pack
from engine.simulate import simulate, write_jsonl

PACK = """pack clitest 1.0.0
on payment

model card_risk
  kind classifier
  features event.amount, velocity(event.card_id, 1h), amount_zscore(event.card_id),
           event.card_country != event.ip_country, card_testing(event.card_id, w: 10m, max_amount: 2.0)
  label fraud

model oddity
  kind anomaly
  features event.amount, velocity(event.card_id, 1h)

rule risky
  when model("card_risk") > 0.9
  score 50

outcome
  review when score >= 40
  approve
"""


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Fit and score on one thread: OpenMP teams only slow small models down on a shared machine."""
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    with threadpool_limits(1):
        yield


@cache
def _events_bytes() -> bytes:
    import io

    out = io.BytesIO()
    write_jsonl(simulate("payment", 6_000, seed=5), out)
    return out.getvalue()


def _files(tmp_path: Path) -> tuple[Path, Path]:
    pack = tmp_path / "clitest.rules"
    pack.write_text(PACK)
    events = tmp_path / "events.jsonl"
    events.write_bytes(_events_bytes())
    return pack, events


def test_train_prints_metrics_saves_and_activates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pack, events = _files(tmp_path)
    out = tmp_path / "models"
    assert main(["train", str(pack), "card_risk", "--events", str(events), "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["version"] == "v1" and report["active"] is True
    assert report["metrics"]["auc_roc"] > 0.8
    assert {"average_precision", "card_precision_at_100", "train_events", "test_events"} <= set(
        report["metrics"]
    )
    spec = load_pack(PACK).models["card_risk"]
    assert report["feature_hash"] == spec.feature_hash
    assert report["feature_names"] == list(spec.feature_names)
    store = ModelStore(out)
    assert store.active("card_risk") == "v1"
    model = store.load("card_risk", expected_hash=spec.feature_hash)
    X = Engine([load_pack(PACK)]).features("card_risk", list(simulate("payment", 500, seed=9)))
    assert Scorer(model).score(X).shape == (500,)

    assert main(["train", str(pack), "card_risk", "--events", str(events), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["models", "list", "--dir", str(out)]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].startswith("  card_risk v1") and listing[1].startswith("* card_risk v2")
    assert "auc_roc" in listing[1]


def test_train_with_a_labels_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pack, events = _files(tmp_path)
    labels = tmp_path / "labels.jsonl"
    lines = []
    for line in _events_bytes().splitlines():
        event = json.loads(line)
        if event["attributes"]["is_fraud"]:
            lines.append(json.dumps({"event_id": event["id"], "fraud": True, "known_at": event["timestamp"]}))
    labels.write_text("\n".join(lines) + "\n")
    out = tmp_path / "models"
    args = [
        "train",
        str(pack),
        "card_risk",
        "--events",
        str(events),
        "--labels",
        str(labels),
        "--out",
        str(out),
    ]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["metrics"]["auc_roc"] > 0.8
    assert report["metrics"]["train_fraud"] + report["metrics"]["fraud"] == len(lines)


def test_train_an_anomaly_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pack, events = _files(tmp_path)
    out = tmp_path / "models"
    assert main(["train", str(pack), "oddity", "--events", str(events), "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kind"] == "anomaly" and report["algorithm"] == "sklearn.IsolationForest"
    scores = ModelStore(out).load("oddity").score(np.array([[10.0, 1.0], [1e6, 40.0]]))
    assert 0 <= scores[0] < scores[1] <= 1


def test_train_reports_an_unknown_model_and_a_bad_labels_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pack, events = _files(tmp_path)
    assert main(["train", str(pack), "nope", "--events", str(events), "--out", str(tmp_path)]) == 1
    assert "declares no model 'nope'" in capsys.readouterr().err
    labels = tmp_path / "labels.jsonl"
    labels.write_text('{"event_id": "e1", "fraud": "yes"}\n')
    args = ["train", str(pack), "card_risk", "--events", str(events), "--labels", str(labels)]
    assert main([*args, "--out", str(tmp_path)]) == 1
    assert "labels.jsonl:1: error: bad label" in capsys.readouterr().err
    args = ["train", str(pack), "card_risk", "--events", str(events), "--label-delay", "soon"]
    assert main([*args, "--out", str(tmp_path)]) == 2
    assert "bad --label-delay 'soon'" in capsys.readouterr().err


def test_event_labels_reach_entity_risk_features_after_the_label_delay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pack, events = _files(tmp_path)
    pack.write_text(
        PACK.replace("event.amount, velocity", "entity_risk(event.card_id, 1d, delay: 1h), velocity")
    )
    auc: dict[str, float] = {}
    for delay in ("0", "7d"):
        out = tmp_path / f"models-{delay}"
        assert (
            main(
                [
                    "train",
                    str(pack),
                    "card_risk",
                    "--events",
                    str(events),
                    "--label-delay",
                    delay,
                    "--out",
                    str(out),
                ]
            )
            == 0
        )
        auc[delay] = json.loads(capsys.readouterr().out)["metrics"]["auc_roc"]
    # labels known at once make the card's delayed fraud share informative; a week late, useless
    assert auc["0"] > auc["7d"] + 0.005
