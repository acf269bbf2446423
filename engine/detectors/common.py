"""Building blocks shared by the detector modules: horizons, keyed state, running moments.

Two horizons bound every piece of state a detector keeps:

* ``HISTORY_TTL`` — detectors without a window (``amount_zscore``, ``entity_age``,
  ``hour_rarity``, ``ring_size``, ...) remember an entity for this long after its
  newest event; an entity idle for longer starts afresh.
* ``LATE_HORIZON`` — how late an event may arrive and still be placed exactly in
  event time by the detectors that summarise history (moments, hour counts). Their
  summaries count every event, and the events of the last ``LATE_HORIZON`` are also
  kept one by one, so a late event can leave out the ones that happened after it.
  An event later than that sees the summary as it stands.

Per-entity records are small msgspec Structs holding numbers and lists, so a
shared store can serialise them as they are.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable
from typing import Any, ClassVar

import msgspec

from dsl.builtins import haversine_km
from engine.detectors.base import Detector, StateFamily
from engine.events import KINDS

__all__ = [
    "HISTORY_TTL",
    "LATE_HORIZON",
    "Keyed",
    "Moments",
    "NoState",
    "Stateless",
    "haversine_km",
    "kinds_with",
    "moments_add",
    "moments_upto",
    "positive",
]

#: seconds an entity's history is kept after its newest event, for detectors without a window
HISTORY_TTL = 365 * 86_400.0
#: seconds of lateness within which summarising detectors place late events exactly
LATE_HORIZON = 86_400.0
#: a spread this small relative to the mean counts as zero (identical values)
_RELATIVE_EPSILON = 1e-9
_encode = msgspec.msgpack.Encoder().encode
#: a msgpack decoder per record type
_decoders: dict[type, Callable[[bytes], Any]] = {}


def kinds_with(*fields: str, any_of: bool = False) -> frozenset[str]:
    """The built-in event kinds having all (or, with ``any_of``, any) of the top-level fields."""
    test = any if any_of else all
    return frozenset(name for name, cls in KINDS.items() if test(f in cls.__struct_fields__ for f in fields))


def positive(*names: str, allow_zero: tuple[str, ...] = ()) -> Callable[[dict[str, Any]], str | None]:
    """A ``validate`` function: the named constants, when given, must be > 0 (or >= 0)."""

    def check(consts: dict[str, Any]) -> str | None:
        for name in names:
            value = consts.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                if name in allow_zero and value < 0:
                    return f"'{name}' must not be negative"
                if name not in allow_zero and value <= 0:
                    return f"'{name}' must be greater than 0"
        return None

    return check


class Keyed(StateFamily):
    """A family holding one small record per entity; entities idle past retention are dropped.

    Records have a ``last`` attribute (the entity's newest event time). Idle entities
    are swept every so often, so the cost is amortised O(1) per event and at most
    about twice the live entities are held.
    """

    def __init__(self, retention: float) -> None:
        super().__init__(retention)
        self.entities: dict[Any, Any] = {}
        #: newest event time seen by this family
        self.latest = -math.inf
        self._until_sweep = 1024

    def tick(self, ts: float) -> None:
        """Advance the family's clock; sweep idle entities now and then."""
        if ts > self.latest:
            self.latest = ts
        self._until_sweep -= 1
        if self._until_sweep <= 0:
            self.sweep()

    def sweep(self) -> None:
        cutoff = self.latest - self.retention
        stale = [key for key, record in self.entities.items() if record.last <= cutoff]
        for key in stale:
            self.forget(key)
        self._until_sweep = max(1024, len(self.entities))

    def forget(self, key: Any) -> None:
        del self.entities[key]

    def entity_count(self) -> int:
        return len(self.entities)

    #: the msgspec Struct type of the per-entity records (for shared stores)
    record: ClassVar[type[msgspec.Struct]] = msgspec.Struct

    def export_key(self, key: Any) -> bytes | None:
        rec = self.entities.get(key)
        return None if rec is None else _encode(rec)

    def import_key(self, key: Any, data: bytes | None) -> None:
        if data is None:
            self.entities.pop(key, None)
            return
        decode = _decoders.get(self.record)
        if decode is None:
            decode = _decoders[self.record] = msgspec.msgpack.Decoder(self.record).decode
        self.entities[key] = decode(data)


class NoState(StateFamily):
    """The family of detectors that read only the event and reference data."""

    observes = False
    sharing = "none"

    def observe(self, key: Any, ts: float, *inputs: Any) -> None:
        return None

    def entity_count(self) -> int:
        return 0


class Stateless(Detector):
    """Base of detectors computed from the event and reference data alone."""

    family = NoState
    dynamic = ()

    @classmethod
    def retention(cls, consts: dict[str, Any]) -> float:
        return 0.0


class Moments(msgspec.Struct):
    """Count, mean and variance of a stream of numbers, placeable in event time.

    Sums are of ``x - shift`` (the first value seen), which keeps the variance of
    nearly equal values exact. ``times``/``values`` hold the values of the last
    ``LATE_HORIZON`` (sorted by time) so a late event can leave out later ones.
    """

    last: float
    shift: float
    n: int = 0
    s1: float = 0.0
    s2: float = 0.0
    times: list[float] = []
    values: list[float] = []


def moments_add(m: Moments, ts: float, x: float) -> None:
    """Count ``x`` observed at event time ``ts``."""
    d = x - m.shift
    m.n += 1
    m.s1 += d
    m.s2 += d * d
    times = m.times
    if not times or ts >= times[-1]:
        times.append(ts)
        m.values.append(x)
    else:
        at = bisect_right(times, ts)
        times.insert(at, ts)
        m.values.insert(at, x)
    if ts > m.last:
        m.last = ts
    # trim lazily: only once the oldest entry is two horizons old, back to one horizon
    if times[0] < m.last - 2 * LATE_HORIZON:
        cut = bisect_right(times, m.last - LATE_HORIZON)
        del times[:cut]
        del m.values[:cut]


def moments_upto(m: Moments, ts: float) -> tuple[int, float, float]:
    """``(count, mean, sample variance)`` of the values observed at times <= ``ts``.

    The variance is 0.0 when it is indistinguishable from zero, and when count < 2.
    """
    n, s1, s2 = m.n, m.s1, m.s2
    times = m.times
    if times and times[-1] > ts:
        shift = m.shift
        for x in m.values[bisect_right(times, ts) :]:
            d = x - shift
            n -= 1
            s1 -= d
            s2 -= d * d
    if n <= 0:
        return 0, 0.0, 0.0
    mean = m.shift + s1 / n
    if n < 2:
        return n, mean, 0.0
    var = (s2 - s1 * s1 / n) / (n - 1)
    tiny = _RELATIVE_EPSILON * max(1.0, abs(mean))
    return n, mean, (var if var > tiny * tiny else 0.0)


def zscore(x: float, mean: float, var: float) -> float | None:
    """``(x - mean) / std``; null when the spread is zero."""
    if var <= 0.0:
        return None
    return (x - mean) / math.sqrt(var)
