"""Fitting a pack's model: the estimators, the time-based held-out split and its metrics.

A classifier is scikit-learn's ``HistGradientBoostingClassifier``, which takes
missing values (a ``null`` feature is NaN) as they are; an anomaly model is an
``IsolationForest`` behind a fitted median ``SimpleImputer``, its score the
forest's anomaly score ``2 ** (-E[h(x)] / c(n))`` of the original paper, which
lies in 0..1 (sklearn's ``score_samples`` is its negative).

``train`` holds out the last ``holdout`` share of the events by event time, fits on
the earlier ones and measures AUC ROC, average precision and card precision@100
on the later ones; the returned model is the one measured (fitted on the earlier
part only), so its metrics describe exactly what is saved.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, IsolationForest
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline

from engine.models.metrics import quality

KINDS = ("classifier", "anomaly")
ALGORITHMS = {"classifier": "sklearn.HistGradientBoostingClassifier", "anomaly": "sklearn.IsolationForest"}


class ModelError(Exception):
    """A model that cannot be trained, loaded or used for the features at hand."""


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat().replace("+00:00", "Z")


@dataclass
class TrainedModel:
    """A fitted estimator with what it was trained on and how well it did."""

    kind: str
    estimator: Any
    feature_names: tuple[str, ...] = ()
    feature_hash: str = ""
    pack: str = ""
    pack_version: str = ""
    #: event-time window of the training data (ISO 8601 UTC): first and last event
    window: tuple[str, str] = ("", "")
    metrics: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""
    #: set by a store when the model is saved
    version: str = ""

    @property
    def algorithm(self) -> str:
        return ALGORITHMS[self.kind]

    def score(self, X: np.ndarray) -> np.ndarray:
        """Fraud probability (classifier) or anomaly score (anomaly), shape (n,), in 0..1."""
        return score_with(self.kind, self.estimator, X)

    def metadata(self) -> dict[str, Any]:
        """Everything but the estimator, as JSON-able values."""
        return {
            "kind": self.kind,
            "algorithm": self.algorithm,
            "feature_names": list(self.feature_names),
            "feature_hash": self.feature_hash,
            "pack": self.pack,
            "pack_version": self.pack_version,
            "window": list(self.window),
            "metrics": self.metrics,
            "created_at": self.created_at,
            "version": self.version,
        }

    def metadata_json(self) -> str:
        return json.dumps(self.metadata(), sort_keys=True)


def score_with(kind: str, estimator: Any, X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ModelError(f"features must be a 2-D array, got shape {X.shape}")
    if X.shape[0] == 0:
        return np.zeros(0)
    if kind == "classifier":
        return np.asarray(estimator.predict_proba(X)[:, 1], dtype=np.float64)
    return np.clip(-np.asarray(estimator.score_samples(X), dtype=np.float64), 0.0, 1.0)


def make_estimator(kind: str, y: np.ndarray | None = None, seed: int = 0) -> Any:
    """An unfitted estimator of ``kind``; a classifier weighs the rare class up (square root of the imbalance)."""
    if kind == "classifier":
        weight: dict[int, float] | None = None
        if y is not None and 0 < int(np.sum(y)) < len(y):
            positives = float(np.sum(y))
            weight = {0: 1.0, 1: float(np.sqrt((len(y) - positives) / positives))}
        return HistGradientBoostingClassifier(
            learning_rate=0.08,
            max_iter=300,
            max_leaf_nodes=31,
            min_samples_leaf=40,
            l2_regularization=1.0,
            class_weight=weight,
            early_stopping=True,
            validation_fraction=0.15,
            n_iter_no_change=25,
            random_state=seed,
        )
    if kind == "anomaly":
        return Pipeline(
            [
                ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                ("forest", IsolationForest(n_estimators=200, random_state=seed)),
            ]
        )
    raise ModelError(f"unknown model kind {kind!r}; expected classifier or anomaly")


def fit(kind: str, X: np.ndarray, y: np.ndarray | None, seed: int = 0) -> Any:
    """Fit an estimator of ``kind`` on all of ``X`` (``y`` is ignored by anomaly models)."""
    X = np.asarray(X, dtype=np.float64)
    estimator = make_estimator(kind, y, seed)
    if kind == "classifier":
        if y is None or len(np.unique(y)) < 2:
            raise ModelError("a classifier needs both fraudulent and legitimate examples")
        estimator.fit(X, np.asarray(y).astype(int))
    else:
        estimator.fit(X)
    return estimator


def train(
    kind: str,
    X: np.ndarray,
    y: np.ndarray | None,
    times: np.ndarray,
    *,
    cards: Sequence[Any] | np.ndarray | None = None,
    holdout: float = 0.2,
    feature_names: Sequence[str] = (),
    feature_hash: str = "",
    pack: str = "",
    pack_version: str = "",
    seed: int = 0,
) -> TrainedModel:
    """Fit on the earlier events and measure on the last ``holdout`` share by event time.

    ``times`` are event times in epoch seconds; ``cards`` (one per row) enable card
    precision@100. ``y`` may be ``None`` for an anomaly model (no metrics then).
    """
    if kind not in KINDS:
        raise ModelError(f"unknown model kind {kind!r}; expected classifier or anomaly")
    X = np.asarray(X, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    n = X.shape[0]
    if X.ndim != 2 or times.shape != (n,) or (y is not None and len(y) != n):
        raise ModelError("features, labels and times must have one row per event")
    if n < 10:
        raise ModelError(f"too few events to train on: {n}")
    order = np.argsort(times, kind="stable")
    cut = round(n * (1.0 - holdout))
    cut = min(max(cut, 1), n - 1)
    # keep events of the same instant on one side of the split
    cutoff = times[order[cut]]
    train_rows = order[times[order] < cutoff]
    test_rows = order[times[order] >= cutoff]
    if train_rows.size == 0:
        train_rows, test_rows = order[:cut], order[cut:]
    y_arr = None if y is None else np.asarray(y).astype(int)
    estimator = fit(kind, X[train_rows], None if y_arr is None else y_arr[train_rows], seed)
    metrics: dict[str, Any] = {
        "train_events": int(train_rows.size),
        "test_events": int(test_rows.size),
        "test_from": _iso(float(times[test_rows].min())),
    }
    if y_arr is not None:
        metrics["train_fraud"] = int(y_arr[train_rows].sum())
        card_arr = None if cards is None else np.asarray(cards)[test_rows]
        scores = score_with(kind, estimator, X[test_rows])
        metrics.update(quality(scores, y_arr[test_rows], card_arr, times[test_rows]))
    return TrainedModel(
        kind=kind,
        estimator=estimator,
        feature_names=tuple(feature_names),
        feature_hash=feature_hash,
        pack=pack,
        pack_version=pack_version,
        window=(_iso(float(times[train_rows].min())), _iso(float(times[train_rows].max()))),
        metrics=metrics,
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    )
