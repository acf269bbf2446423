"""Novelty detectors: ``new_value``, ``entity_age`` and ``hour_rarity``.

* ``new_value(key, value, within)`` is true when ``value`` has not been seen with
  ``key`` at a time in ``(t - within, t]`` (a sighting exactly ``within`` ago is too
  old, so the value is new again). The first event of a key is new. Each key keeps,
  per value, a few sighting times: a sighting is dropped once the sightings either
  side of it are at most ``within`` apart, which never changes an answer for that
  window, so late events are placed exactly (with one ``within`` per key and value
  in a pack; a shorter second window may then be off for late events).
* ``entity_age(key)`` is the time since the key's first event (in event time), 0s
  for the first event itself, so ``entity_age(event.user_id) < 1d`` holds for brand
  new entities. A late event older than the first one seen is the first: age 0s.
* ``hour_rarity(key)`` is 1 minus the share of the key's earlier events (at or
  before the event's time) whose UTC hour of day is the event's; null under 20.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from typing import Any

import msgspec

from dsl.types import BOOL, DURATION, KEY, NUMBER, FunctionSig, Param
from engine.detectors.base import Detector
from engine.detectors.common import HISTORY_TTL, LATE_HORIZON, Keyed, positive

#: fewest earlier events hour_rarity needs
MIN_HOUR_HISTORY = 20


# ---- new_value


def add_sighting(times: list[float], ts: float, span: float) -> None:
    """Insert a sighting, then drop those no window of at most ``span`` can need.

    A middle sighting whose neighbours are at most ``span`` apart never decides
    whether a value was seen in a window ``(t - w, t]`` with ``w <= span``; sightings
    more than two spans older than the newest are dropped too.
    """
    if ts >= times[-1]:
        times.append(ts)
    else:
        insort(times, ts)
    i = 1
    while i < len(times) - 1:
        if times[i + 1] - times[i - 1] <= span:
            del times[i]
        else:
            i += 1
    while len(times) > 1 and times[0] < times[-1] - 2 * span:
        del times[0]


def seen_within(times: list[float] | None, ts: float, within: float) -> bool:
    """Whether a sighting lies in ``(ts - within, ts]``."""
    if not times:
        return False
    i = bisect_right(times, ts)
    return i > 0 and times[i - 1] > ts - within


class _Sightings(msgspec.Struct):
    last: float
    seen: dict[Any, list[float]]
    prune_at: int = 64


class SightingLog(Keyed):
    """Per key: the values seen with it and a few sighting times of each."""

    record = _Sightings

    def __init__(self, retention: float) -> None:
        super().__init__(retention)
        self.entities: dict[Any, _Sightings] = {}

    def observe(self, key: Any, ts: float, *inputs: Any) -> None:
        value = inputs[0] if inputs else None
        if key is None or value is None:
            return
        rec = self.entities.get(key)
        if rec is None:
            self.entities[key] = _Sightings(ts, {value: [ts]})
        else:
            if ts > rec.last:
                rec.last = ts
            times = rec.seen.get(value)
            if times is None:
                rec.seen[value] = [ts]
                if len(rec.seen) > rec.prune_at:
                    self._prune(rec)
            else:
                add_sighting(times, ts, self.retention)
        self.tick(ts)

    def _prune(self, rec: _Sightings) -> None:
        """Forget values not seen for two spans (no window of this family can reach them)."""
        cutoff = rec.last - 2 * self.retention
        for value in [v for v, times in rec.seen.items() if times[-1] < cutoff]:
            del rec.seen[value]
        rec.prune_at = max(64, 2 * len(rec.seen))


class NewValue(Detector):
    sig = FunctionSig(
        "new_value",
        (Param("key", KEY), Param("value", KEY), Param("within", DURATION, default=90 * 86400.0, const=True)),
        BOOL,
        stateful=True,
        validate=positive("within"),
        doc="whether value was not seen with this key before, within the period",
    )
    family = SightingLog
    dynamic = ("key", "value")

    @classmethod
    def retention(cls, consts: dict[str, Any]) -> float:
        return float(consts["within"])

    @classmethod
    def query(cls, state: SightingLog, consts: dict[str, Any], key: Any, ts: float, *args: Any) -> Any:
        value = args[0] if args else None
        if key is None or value is None:
            return None
        rec = state.entities.get(key)
        if rec is None:
            return True
        return not seen_within(rec.seen.get(value), ts, consts["within"])


# ---- entity_age


class _Seen(msgspec.Struct):
    first: float
    last: float


class FirstSeen(Keyed):
    """Per key: the first and newest event times."""

    record = _Seen

    def __init__(self, retention: float) -> None:
        super().__init__(retention)
        self.entities: dict[Any, _Seen] = {}

    def observe(self, key: Any, ts: float, *inputs: Any) -> None:
        if key is None:
            return
        rec = self.entities.get(key)
        if rec is None:
            self.entities[key] = _Seen(ts, ts)
        elif ts < rec.first:
            rec.first = ts
        elif ts > rec.last:
            rec.last = ts
        self.tick(ts)


def age(first: float | None, ts: float) -> float:
    """Seconds since the first event; 0 when this event is the first."""
    return 0.0 if first is None or first >= ts else ts - first


class EntityAge(Detector):
    sig = FunctionSig(
        "entity_age",
        (Param("key", KEY),),
        DURATION,
        stateful=True,
        doc="time since this key's first event (0s for the first event)",
    )
    family = FirstSeen

    @classmethod
    def retention(cls, consts: dict[str, Any]) -> float:
        return HISTORY_TTL

    @classmethod
    def query(cls, state: FirstSeen, consts: dict[str, Any], key: Any, ts: float, *args: Any) -> Any:
        if key is None:
            return None
        rec = state.entities.get(key)
        return age(None if rec is None else rec.first, ts)


# ---- hour_rarity


def hour_of(ts: float) -> int:
    """UTC hour of day, 0-23, of an epoch time."""
    return int(ts // 3600) % 24


def rarity(count_in_hour: int, total: int, min_total: int = MIN_HOUR_HISTORY) -> float | None:
    """1 - share of the earlier events in the hour; null under ``min_total`` earlier events."""
    if total < min_total:
        return None
    return 1.0 - count_in_hour / total


class _Hours(msgspec.Struct):
    last: float
    n: int
    counts: list[int]
    times: list[float] = []
    hours: list[int] = []


class HourProfile(Keyed):
    """Per key: how many events fell in each UTC hour of day, plus the last day's one by one."""

    record = _Hours

    def __init__(self, retention: float) -> None:
        super().__init__(retention)
        self.entities: dict[Any, _Hours] = {}

    def observe(self, key: Any, ts: float, *inputs: Any) -> None:
        if key is None:
            return
        hour = hour_of(ts)
        rec = self.entities.get(key)
        if rec is None:
            rec = self.entities[key] = _Hours(ts, 0, [0] * 24)
        rec.n += 1
        rec.counts[hour] += 1
        times = rec.times
        if not times or ts >= times[-1]:
            times.append(ts)
            rec.hours.append(hour)
        else:
            at = bisect_right(times, ts)
            times.insert(at, ts)
            rec.hours.insert(at, hour)
        if ts > rec.last:
            rec.last = ts
        if times[0] < rec.last - 2 * LATE_HORIZON:
            cut = bisect_right(times, rec.last - LATE_HORIZON)
            del times[:cut]
            del rec.hours[:cut]
        self.tick(ts)


class HourRarity(Detector):
    sig = FunctionSig(
        "hour_rarity",
        (Param("key", KEY),),
        NUMBER,
        stateful=True,
        doc="1 - share of this key's earlier events in the same UTC hour of day; null under 20 of them",
    )
    family = HourProfile

    @classmethod
    def retention(cls, consts: dict[str, Any]) -> float:
        return HISTORY_TTL

    @classmethod
    def query(cls, state: HourProfile, consts: dict[str, Any], key: Any, ts: float, *args: Any) -> Any:
        if key is None:
            return None
        rec = state.entities.get(key)
        if rec is None:
            return None
        hour = hour_of(ts)
        total, count = rec.n, rec.counts[hour]
        times = rec.times
        if times and times[-1] > ts:  # a late event: leave out the events after it
            later = rec.hours[bisect_right(times, ts) :]
            total -= len(later)
            count -= later.count(hour)
        return rarity(count, total)
