"""Model scores in rules: one scoring call per batch, features shared by training and scoring."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pytest

from engine.engine import Engine
from engine.events import Payment
from engine.pack import PackError, load_pack

PACK = """pack mtest 1.0.0
on payment

let burst = velocity(event.card_id, 1h)

model card_risk
  kind classifier
  features event.amount, burst, sum_amount(event.card_id, 1d), event.card_present
  label fraud

rule risky
  when model("card_risk") > 0.9 and burst >= 1
  then review
  score 50

outcome
  review when score >= 40
  approve
"""
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _payments(n: int, **fields: Any) -> list[Payment]:
    return [Payment(id=f"p{i}", timestamp=T0 + dt.timedelta(minutes=i), **fields) for i in range(n)]


class Recorder:
    """A scorer that records every batch it is given and scores by amount."""

    def __init__(self) -> None:
        self.batches: list[np.ndarray] = []

    def score(self, x: np.ndarray) -> np.ndarray:
        self.batches.append(x.copy())
        return np.where(x[:, 0] > 100, 0.95, 0.1)


def test_one_scoring_call_per_batch_with_the_features_of_each_event() -> None:
    engine = Engine([load_pack(PACK)])
    scorer = Recorder()
    engine.set_model("card_risk", scorer)
    events = _payments(3, card_id="c1", amount=50.0)
    events.append(
        Payment(
            id="big", timestamp=T0 + dt.timedelta(minutes=5), card_id="c1", amount=500.0, card_present=True
        )
    )
    decisions = engine.evaluate_many(events)
    assert len(scorer.batches) == 1
    rows = scorer.batches[0]
    # amount, velocity (this event included), sum_amount over a day, card_present (null -> NaN)
    assert rows.shape == (4, 4)
    assert rows[:, 1].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert rows[:, 2].tolist() == [50.0, 100.0, 150.0, 650.0]
    assert math.isnan(rows[0, 3]) and rows[3, 3] == 1.0
    assert [d.outcome for d in decisions] == ["approve", "approve", "approve", "review"]
    assert decisions[-1].hits[0].explanation[0] == 'model("card_risk") = 0.95 > 0.9'


def test_features_for_training_match_what_scoring_sees() -> None:
    events = _payments(5, card_id="c2", amount=20.0)
    training = Engine([load_pack(PACK)]).features("card_risk", events)
    scorer = Recorder()
    live = Engine([load_pack(PACK)])
    live.set_model("card_risk", scorer)
    live.evaluate_many(events[:2])
    live.evaluate_many(events[2:])
    np.testing.assert_array_equal(training, np.vstack(scorer.batches))


def test_without_a_model_the_rule_does_not_fire() -> None:
    decisions = Engine([load_pack(PACK)]).evaluate_many(_payments(3, card_id="c3", amount=5000.0))
    assert all(d.outcome == "approve" and not d.hits for d in decisions)


def test_unknown_model_is_a_diagnostic() -> None:
    with pytest.raises(PackError, match="no model named 'card_rsk'"):
        load_pack(PACK.replace('model("card_risk")', 'model("card_rsk")'))


def test_model_spec_pins_the_feature_list() -> None:
    spec = load_pack(PACK).models["card_risk"]
    assert spec.feature_names == (
        "event.amount",
        "burst",
        "sum_amount(event.card_id, 1d)",
        "event.card_present",
    )
    other = load_pack(PACK.replace("event.card_present", "event.amount * 2")).models["card_risk"]
    assert spec.feature_hash != other.feature_hash
