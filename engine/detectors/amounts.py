"""Amount detectors: ``amount_zscore``, ``card_testing``, ``structuring`` and ``duplicate``.

``card_testing``, ``structuring`` and ``duplicate`` read the same time-sorted
``EventLog`` as ``velocity`` and ``sum_amount`` (so ``card_testing(event.card_id)``
and ``velocity(event.card_id, 1h)`` share one log): windows are ``(t - w, t]`` in
event time and a late event counts the logged events at or before its time. An
event recorded without an amount is logged with amount 0, as for ``sum_amount``.

``amount_zscore`` keeps running moments of each key's amounts (count, mean,
variance) rather than a log, so it needs no window: its history is every earlier
amount of the key (kept while the key is active, see ``common.HISTORY_TTL``).
"""

from __future__ import annotations

from typing import Any

from dsl.types import BOOL, DURATION, KEY, NUMBER, FunctionSig, Param
from engine.detectors.base import Detector
from engine.detectors.common import (
    HISTORY_TTL,
    Keyed,
    Moments,
    kinds_with,
    moments_add,
    moments_upto,
    positive,
    zscore,
)
from engine.detectors.windows import EventLog

#: kinds whose events carry an amount
AMOUNT_KINDS = kinds_with("amount")
#: fewest earlier amounts amount_zscore needs
MIN_HISTORY = 5


def zscore_of(m: Moments, ts: float, x: float, min_count: int = MIN_HISTORY) -> float | None:
    """z-score of ``x`` against the values observed at or before ``ts``; null under ``min_count``."""
    n, mean, var = moments_upto(m, ts)
    if n < min_count:
        return None
    return zscore(x, mean, var)


def count_small(amounts: list[float], max_amount: float) -> int:
    """How many amounts are at most ``max_amount``."""
    return sum(1 for a in amounts if a <= max_amount)


def structuring_band(threshold: float, margin: float) -> tuple[float, float]:
    """The amounts just under a reporting threshold: ``[threshold * (1 - margin), threshold)``."""
    return threshold * (1.0 - margin), threshold


def count_in_band(amounts: list[float], low: float, high: float) -> int:
    return sum(1 for a in amounts if low <= a < high)


class AmountProfile(Keyed):
    """Per key: running moments of the amounts (``common.Moments``)."""

    inputs = (("amount",),)
    record = Moments

    def __init__(self, retention: float) -> None:
        super().__init__(retention)
        self.entities: dict[Any, Moments] = {}

    def observe(self, key: Any, ts: float, *inputs: Any) -> None:
        amount = inputs[0] if inputs else None
        if key is None or amount is None:
            return
        m = self.entities.get(key)
        if m is None:
            m = self.entities[key] = Moments(ts, float(amount))
        moments_add(m, ts, float(amount))
        self.tick(ts)


class AmountZscore(Detector):
    sig = FunctionSig(
        "amount_zscore",
        (Param("key", KEY),),
        NUMBER,
        kinds=AMOUNT_KINDS,
        stateful=True,
        inputs=(("amount",),),
        doc="(amount - mean) / std of this key's earlier amounts; null under 5 of them or std 0",
    )
    family = AmountProfile

    @classmethod
    def retention(cls, consts: dict[str, Any]) -> float:
        return HISTORY_TTL

    @classmethod
    def query(cls, state: AmountProfile, consts: dict[str, Any], key: Any, ts: float, *args: Any) -> Any:
        amount = args[0] if args else None
        if key is None or amount is None:
            return None
        m = state.entities.get(key)
        return None if m is None else zscore_of(m, ts, float(amount))


def _card_testing_ok(consts: dict[str, Any]) -> str | None:
    return positive("w", "max_amount", allow_zero=("max_amount",))(consts)


class CardTesting(Detector):
    sig = FunctionSig(
        "card_testing",
        (
            Param("key", KEY),
            Param("w", DURATION, default=600.0, const=True),
            Param("max_amount", NUMBER, default=2.0, const=True),
        ),
        NUMBER,
        kinds=AMOUNT_KINDS,
        stateful=True,
        inputs=(("amount",),),
        validate=_card_testing_ok,
        doc="small payments (amount <= max_amount) with this key in the window, the current one included",
    )
    family = EventLog

    @classmethod
    def query(cls, state: EventLog, consts: dict[str, Any], key: Any, ts: float, *args: Any) -> Any:
        if key is None:
            return None
        max_amount = consts["max_amount"]
        lo, hi = state.span(key, ts, consts["w"])
        count = count_small(state.amounts[key][lo:hi], max_amount) if hi > lo else 0
        current = args[0] if args else None
        return count + (1 if current is not None and current <= max_amount else 0)


def _structuring_ok(consts: dict[str, Any]) -> str | None:
    margin = consts.get("margin")
    if isinstance(margin, int | float) and not 0 < margin < 1:
        return "'margin' must be between 0 and 1 (exclusive)"
    return positive("threshold", "w")(consts)


class Structuring(Detector):
    sig = FunctionSig(
        "structuring",
        (
            Param("key", KEY),
            Param("threshold", NUMBER, default=10000, const=True),
            Param("margin", NUMBER, default=0.1, const=True),
            Param("w", DURATION, default=86400.0, const=True),
        ),
        NUMBER,
        kinds=AMOUNT_KINDS,
        stateful=True,
        inputs=(("amount",),),
        validate=_structuring_ok,
        doc="events with this key and amount in [threshold * (1 - margin), threshold) in the window, "
        "the current one included",
    )
    family = EventLog

    @classmethod
    def query(cls, state: EventLog, consts: dict[str, Any], key: Any, ts: float, *args: Any) -> Any:
        if key is None:
            return None
        low, high = structuring_band(consts["threshold"], consts["margin"])
        lo, hi = state.span(key, ts, consts["w"])
        count = count_in_band(state.amounts[key][lo:hi], low, high) if hi > lo else 0
        current = args[0] if args else None
        return count + (1 if current is not None and low <= current < high else 0)


class Duplicate(Detector):
    sig = FunctionSig(
        "duplicate",
        (Param("key", KEY), Param("w", DURATION, default=600.0, const=True)),
        BOOL,
        stateful=True,
        validate=positive("w"),
        doc="whether an earlier event with the same key lies in the window",
    )
    family = EventLog

    @classmethod
    def query(cls, state: EventLog, consts: dict[str, Any], key: Any, ts: float, *args: Any) -> Any:
        if key is None:
            return None
        lo, hi = state.span(key, ts, consts["w"])
        return hi > lo
