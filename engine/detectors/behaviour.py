"""Behavioural biometrics of ``session_activity`` events: ``bot_score`` and ``keystroke_deviation``.

``bot_score()`` looks at the session alone and combines three signs of a script,
each scored 0 (human) to 1 (machine), with fixed weights:

* cadence (0.4): keystroke intervals (at least 3) that hardly vary — coefficient
  of variation 0.05 or less scores 1, 0.30 or more scores 0, linear between — or
  that are inhumanly fast (mean 25 ms or less scores 1, 60 ms or more 0); the
  larger of the two;
* form fill (0.3): ``form_fill_ms`` of 1000 or less scores 1, 3000 or more 0;
* pointer (0.3): no pointer moves scores 1, each move up to 5 takes off 0.2.

A sign the session does not report adds 0 (no evidence), so only a session that
looks machine-made on all three counts exceeds 0.9; with no sign at all the score
is null.

``keystroke_deviation(key)`` compares the session's cadence — the mean and the
standard deviation of its keystroke intervals — with the key's (user's) earlier
sessions: for each of the two, ``|x - mean| / std`` over the earlier sessions, and
the result is their root mean square, so it reads in profile standard deviations.
Null for a null key, a session with fewer than 3 intervals, fewer than 5 earlier
sessions (with 3 or more intervals), or a profile with no spread.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

import msgspec

from dsl.types import KEY, NUMBER, FunctionSig, Param
from engine.detectors.base import Detector
from engine.detectors.common import HISTORY_TTL, Keyed, Moments, Stateless, moments_add, moments_upto

SESSION_KINDS = frozenset({"session_activity"})
#: fewest keystroke intervals that say anything about cadence
MIN_INTERVALS = 3
#: fewest earlier sessions a keystroke profile needs
MIN_SESSIONS = 5
WEIGHTS = {"cadence": 0.4, "fill": 0.3, "pointer": 0.3}


def ramp(x: float, full: float, zero: float) -> float:
    """1 at or below ``full``, 0 at or above ``zero``, linear between (``full < zero``)."""
    if x <= full:
        return 1.0
    if x >= zero:
        return 0.0
    return (zero - x) / (zero - full)


_last_cadence: tuple[object, tuple[float, float] | None] = (None, None)


def cadence(intervals: Sequence[float] | None) -> tuple[float, float] | None:
    """Mean and (population) standard deviation of keystroke intervals; null under 3.

    The three readers of one session (``bot_score``, ``keystroke_deviation`` and the
    profile update) pass the same list, so the last result is kept for it.
    """
    global _last_cadence
    if intervals is None or len(intervals) < MIN_INTERVALS:
        return None
    if _last_cadence[0] is intervals:
        return _last_cadence[1]
    n = len(intervals)
    mean = sum(intervals) / n
    var = sum(map(operator.mul, intervals, intervals)) / n - mean * mean
    result = (mean, math.sqrt(var) if var > 1e-12 * mean * mean else 0.0)
    _last_cadence = (intervals, result)
    return result


def cadence_sign(intervals: Sequence[float] | None) -> float | None:
    stats = cadence(intervals)
    if stats is None:
        return None
    mean, std = stats
    if mean <= 0:
        return 1.0
    return max(ramp(std / mean, 0.05, 0.30), ramp(mean, 25.0, 60.0))


def fill_sign(form_fill_ms: float | None) -> float | None:
    return None if form_fill_ms is None else ramp(form_fill_ms, 1000.0, 3000.0)


def pointer_sign(pointer_moves: int | None) -> float | None:
    return None if pointer_moves is None else 1.0 - min(max(pointer_moves, 0), 5) / 5


def bot_score(
    intervals: Sequence[float] | None, form_fill_ms: float | None, pointer_moves: int | None
) -> float | None:
    """Weighted signs of a scripted session, 0..1; null when the session reports none."""
    signs = {
        "cadence": cadence_sign(intervals),
        "fill": fill_sign(form_fill_ms),
        "pointer": pointer_sign(pointer_moves),
    }
    if all(s is None for s in signs.values()):
        return None
    score = sum(WEIGHTS[name] * s for name, s in signs.items() if s is not None)
    return min(1.0, round(score, 12))


class BotScore(Stateless):
    sig = FunctionSig(
        "bot_score",
        (),
        NUMBER,
        kinds=SESSION_KINDS,
        stateful=True,
        inputs=(("keystroke_intervals_ms",), ("form_fill_ms",), ("pointer_moves",)),
        doc="0..1: machine-like cadence, inhuman form-fill speed, no pointer moves",
    )

    @classmethod
    def query(cls, state: Any, consts: dict[str, Any], key: Any, ts: float, *args: Any) -> Any:
        intervals, fill, moves = args
        return bot_score(intervals, fill, moves)


class _Cadence(msgspec.Struct):
    last: float
    mean: Moments
    spread: Moments


class CadenceProfile(Keyed):
    """Per key: running moments of its sessions' mean keystroke interval and its spread."""

    inputs = (("keystroke_intervals_ms",),)
    record = _Cadence

    def __init__(self, retention: float) -> None:
        super().__init__(retention)
        self.entities: dict[Any, _Cadence] = {}

    def observe(self, key: Any, ts: float, *inputs: Any) -> None:
        stats = cadence(inputs[0] if inputs else None)
        if key is None or stats is None:
            return
        mean, spread = stats
        rec = self.entities.get(key)
        if rec is None:
            rec = self.entities[key] = _Cadence(ts, Moments(ts, mean), Moments(ts, spread))
        moments_add(rec.mean, ts, mean)
        moments_add(rec.spread, ts, spread)
        if ts > rec.last:
            rec.last = ts
        self.tick(ts)


def deviation(rec: _Cadence, ts: float, mean: float, spread: float) -> float | None:
    """RMS of the z-scores of the session's cadence against the sessions at or before ``ts``."""
    z2: list[float] = []
    for profile, x in ((rec.mean, mean), (rec.spread, spread)):
        n, mu, var = moments_upto(profile, ts)
        if n < MIN_SESSIONS:
            return None
        if var > 0:
            z2.append((x - mu) ** 2 / var)
    return math.sqrt(sum(z2) / len(z2)) if z2 else None


class KeystrokeDeviation(Detector):
    sig = FunctionSig(
        "keystroke_deviation",
        (Param("key", KEY),),
        NUMBER,
        kinds=SESSION_KINDS,
        stateful=True,
        inputs=(("keystroke_intervals_ms",),),
        doc="distance of this session's keystroke cadence from the key's profile, in standard deviations",
    )
    family = CadenceProfile

    @classmethod
    def retention(cls, consts: dict[str, Any]) -> float:
        return HISTORY_TTL

    @classmethod
    def query(cls, state: CadenceProfile, consts: dict[str, Any], key: Any, ts: float, *args: Any) -> Any:
        stats = cadence(args[0] if args else None)
        if key is None or stats is None:
            return None
        rec = state.entities.get(key)
        return None if rec is None else deviation(rec, ts, *stats)
