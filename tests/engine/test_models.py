"""Models: training on pack features, metrics by hand, skops storage (never pickle), hash checks."""

from __future__ import annotations

import datetime as dt
import io
import pickle
import zipfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio

from engine.engine import Engine
from engine.events import Payment
from engine.models import (
    ModelError,
    ModelStore,
    Scorer,
    TrainedModel,
    attach_active,
    card_precision_at_k,
    casework_fields,
    dumps,
    fit,
    loads,
    quality,
    train,
)
from engine.models.store import TRUSTED_TYPES
from engine.pack import CompiledPack, load_pack
from engine.simulate import simulate

PACK = """pack mtest 1.0.0
on payment

let cnp = event.channel == "ecom" and not event.card_present

model card_risk
  kind classifier
  features event.amount, log(event.amount + 1), cnp, event.card_country != event.ip_country,
           velocity(event.card_id, 1h), sum_amount(event.card_id, 1d), amount_zscore(event.card_id),
           card_testing(event.card_id, w: 10m, max_amount: 2.0),
           distinct(event.device_id, event.card_id, 24h), event.account_age_days,
           new_value(event.card_id, event.device_id, within: 90d)
  label fraud

model oddity
  kind anomaly
  features event.amount, velocity(event.card_id, 1h), amount_zscore(event.card_id)

rule risky
  when model("card_risk") > 0.9
  then review
  score 50

rule odd
  when anomaly("oddity") > 0.99
  score 1

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
def _pack() -> CompiledPack:
    return load_pack(PACK)


@cache
def _training_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Features of 12,000 simulated payments, their labels, event times and cards."""
    events = list(simulate("payment", 12_000, seed=11))
    X = Engine([_pack()]).features("card_risk", events)
    y = np.array([bool(e.attributes["is_fraud"]) for e in events])
    times = np.array([e.timestamp.timestamp() for e in events])
    cards = np.array([getattr(e, "card_id", "") for e in events])
    return X, y, times, cards


@cache
def _trained() -> TrainedModel:
    X, y, times, cards = _training_data()
    spec = _pack().models["card_risk"]
    return train(
        "classifier",
        X,
        y,
        times,
        cards=cards,
        feature_names=spec.feature_names,
        feature_hash=spec.feature_hash,
        pack="mtest",
        pack_version="1.0.0",
    )


# --- metrics by hand ------------------------------------------------------------------------


def test_card_precision_at_k_by_hand() -> None:
    # day 0: cards a (0.9, fraud), b (0.8), c (0.7, its 0.1 transaction is the fraud), d (0.2)
    # top 2 cards by their best transaction: a, b -> 1 fraudulent of 2 = 0.5
    # day 1: a (0.3), b (0.95, fraud), c (0.4) -> top 2: b, c -> 1 of 2 = 0.5... c not fraud
    scores = np.array([0.9, 0.8, 0.7, 0.1, 0.2, 0.3, 0.95, 0.4])
    fraud = np.array([1, 0, 0, 1, 0, 0, 1, 0])
    cards = np.array(["a", "b", "c", "c", "d", "a", "b", "c"])
    days = np.array([0, 0, 0, 0, 0, 1, 1, 1])
    assert card_precision_at_k(scores, fraud, cards, days, k=2) == pytest.approx((1 / 2 + 1 / 2) / 2)
    # k=3 on day 0 takes a, b, c: a and c are fraudulent cards -> 2/3; day 1: b only -> 1/3
    assert card_precision_at_k(scores, fraud, cards, days, k=3) == pytest.approx((2 / 3 + 1 / 3) / 2)
    # k larger than the cards of a day still divides by k (the book's definition)
    assert card_precision_at_k(scores, fraud, cards, days, k=100) == pytest.approx((2 / 100 + 1 / 100) / 2)


def test_cards_caught_on_an_earlier_day_are_not_ranked_again() -> None:
    # day 0: a (fraud) is caught in the top 1; day 1: a would lead again, but it is blocked,
    # so b (legitimate) is the top card: (1 + 0) / 2; without removal a counts twice: 1
    scores = np.array([0.9, 0.1, 0.99, 0.5])
    fraud = np.array([1, 0, 1, 0])
    cards = np.array(["a", "b", "a", "b"])
    days = np.array([0, 0, 1, 1])
    assert card_precision_at_k(scores, fraud, cards, days, k=1) == pytest.approx(0.5)
    assert card_precision_at_k(scores, fraud, cards, days, k=1, remove_detected=False) == pytest.approx(1.0)


def test_quality_matches_hand_worked_auc_and_ap() -> None:
    # ranking: 0.9 (fraud), 0.8 (legit), 0.7 (fraud), 0.1 (legit)
    # AUC: fraud pairs beating legit ones: (0.9>0.8, 0.9>0.1, 0.7>0.1) = 3 of 4 -> 0.75
    # AP: precision at each fraud: 1/1 and 2/3 -> mean 0.8333
    times = np.array([0.0, 10.0, 86_400.0 + 5, 86_400.0 + 6])
    m = quality(
        np.array([0.9, 0.8, 0.7, 0.1]), np.array([1, 0, 1, 0]), np.array(["a", "b", "a", "b"]), times, k=1
    )
    assert m["auc_roc"] == pytest.approx(0.75)
    assert m["average_precision"] == pytest.approx((1 + 2 / 3) / 2)
    # day 0: a (0.9, fraud) first -> 1; day 1: a was caught and is blocked, b is first -> 0
    assert m["card_precision_at_1"] == pytest.approx(0.5)
    assert quality(np.array([0.5, 0.5]), np.array([0, 0]))["auc_roc"] is None


# --- training -------------------------------------------------------------------------------


def test_training_on_simulated_payments_beats_chance_on_the_later_events() -> None:
    model = _trained()
    m = model.metrics
    assert m["auc_roc"] > 0.9
    assert m["average_precision"] > 0.5
    assert m["card_precision_at_100"] is not None
    X, _, times, _ = _training_data()
    # the held-out part is the last fifth by event time
    assert m["test_events"] == pytest.approx(0.2 * len(times), rel=0.01)
    assert model.window[1] < m["test_from"]
    assert model.score(X[:5]).shape == (5,)


def test_anomaly_scores_lie_in_zero_to_one() -> None:
    X = Engine([_pack()]).features("oddity", list(simulate("payment", 3_000, seed=3)))
    assert np.isnan(X).any()  # amount_zscore is null early on: the imputer fills it
    estimator = fit("anomaly", X, None)
    model = TrainedModel("anomaly", estimator, ("a", "b", "c"))
    scores = model.score(X)
    assert scores.shape == (len(X),)
    assert scores.min() >= 0.0 and scores.max() <= 1.0
    extreme = np.array([[1e7, 500.0, 80.0]])
    assert model.score(extreme)[0] > np.median(scores)


def test_a_classifier_needs_both_classes() -> None:
    X = np.random.default_rng(0).random((50, 2))
    with pytest.raises(ModelError, match="both"):
        train("classifier", X, np.zeros(50), np.arange(50.0))


# --- storage --------------------------------------------------------------------------------


def test_skops_round_trip_gives_identical_scores(tmp_path: Path) -> None:
    model = _trained()
    X = _training_data()[0][:2000]
    again = loads(dumps(model), expected_hash=model.feature_hash)
    np.testing.assert_array_equal(model.score(X), again.score(X))
    assert again.metrics == model.metrics and again.feature_names == model.feature_names
    store = ModelStore(tmp_path)
    assert store.save("card_risk", model) == "v1"
    assert store.save("card_risk", model, activate=False) == "v2"
    assert store.versions("card_risk") == ["v1", "v2"] and store.active("card_risk") == "v1"
    store.activate("card_risk", "v2")
    loaded = store.load("card_risk", expected_hash=_pack().models["card_risk"].feature_hash)
    assert loaded.version == "v2"
    np.testing.assert_array_equal(Scorer(loaded).score(X), model.score(X))
    assert store.metadata("card_risk", "v2")["feature_hash"] == model.feature_hash


def test_artifacts_are_skops_zips_never_pickles(tmp_path: Path) -> None:
    data = dumps(_trained())
    assert data[:4] == b"PK\x03\x04"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert "schema.json" in archive.namelist()
        assert not any(name.endswith((".pkl", ".pickle")) for name in archive.namelist())
    # a pickle is refused before anything is unpickled
    with pytest.raises(ModelError, match="never loads pickles"):
        loads(pickle.dumps({"format": "vigil-model/1"}))
    # skops itself refuses the archive without our explicit trusted list
    with pytest.raises(Exception, match=r"[Uu]ntrusted"):
        sio.loads(data, trusted=[])
    assert set(sio.get_untrusted_types(data=data)) <= set(TRUSTED_TYPES)


def test_an_archive_with_untrusted_types_is_refused() -> None:
    from sklearn.neighbors import KDTree

    bad = sio.dumps({"format": "vigil-model/1", "estimator": KDTree(np.zeros((3, 2))), "metadata": "{}"})
    with pytest.raises(ModelError, match="untrusted types"):
        loads(bad)


def test_a_model_trained_on_other_features_is_refused(tmp_path: Path) -> None:
    model = _trained()
    other = load_pack(PACK.replace("event.account_age_days,", "event.account_age_days * 2,"))
    with pytest.raises(ModelError, match="other features"):
        loads(dumps(model), expected_hash=other.models["card_risk"].feature_hash)
    store = ModelStore(tmp_path)
    store.save("card_risk", model)
    engine = Engine([other])
    refused: list[str] = []
    assert attach_active(engine, store, lambda name, exc: refused.append(name)) == []
    assert refused == ["card_risk"]
    with pytest.raises(ModelError):
        attach_active(engine, store)


# --- end to end -----------------------------------------------------------------------------


def test_a_trained_model_drives_rules_through_set_model(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    store.save("card_risk", _trained())
    engine = Engine([_pack()])
    assert attach_active(engine, store) == ["card_risk"]
    events = list(simulate("payment", 12_000, seed=11))
    decisions = engine.evaluate_many(events)
    flagged = [e for e, d in zip(events, decisions, strict=True) if any(h.rule == "risky" for h in d.hits)]
    assert flagged
    precision = sum(bool(e.attributes["is_fraud"]) for e in flagged) / len(flagged)
    assert precision > 0.8
    hit = next(d for d in decisions if d.hits)
    assert hit.hits[0].explanation[0].startswith('model("card_risk") = ')


def test_without_an_active_version_the_model_rule_is_silent(tmp_path: Path) -> None:
    engine = Engine([_pack()])
    assert attach_active(engine, ModelStore(tmp_path)) == []
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    big = Payment(id="p1", timestamp=t0, card_id="c1", amount=1e6)
    assert not engine.evaluate(big).hits


def test_the_casework_store_keeps_the_artifact_and_it_loads_back_checked(tmp_path: Path) -> None:
    from casework import migrate, model_store
    from casework.context import Actor, Context
    from casework.db import create_engine, transaction
    from casework.tenants import create_tenant

    db = create_engine(f"sqlite:///{tmp_path / 'models.sqlite3'}")
    migrate.upgrade(db)
    ctx = Context("acme", Actor("user", "1"), now=dt.datetime(2026, 4, 1, tzinfo=dt.UTC))
    model = _trained()
    with transaction(db) as s:
        create_tenant(s, ctx, "Acme")
        view = model_store.save(s, ctx, "card_risk", "v1", **casework_fields(model))
        model_store.activate(s, ctx, "card_risk", "v1")
    assert view.algorithm == "sklearn.HistGradientBoostingClassifier"
    assert view.features == list(model.feature_names) and view.metrics == model.metrics
    with transaction(db) as s:
        active = model_store.active_artifact(s, "acme", "card_risk")
    assert active is not None
    scorer = Scorer.from_bytes(active[1], expected_hash=_pack().models["card_risk"].feature_hash)
    X = _training_data()[0][:500]
    np.testing.assert_array_equal(scorer.score(X), model.score(X))
    db.dispose()
