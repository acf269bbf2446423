"""Windowed counting detectors: ``velocity``, ``sum_amount`` and ``distinct``.

State per entity is a time-sorted log, so late (out-of-order) events land in
their place and windows are always ``(t - w, t]`` in event time. Entries older
than the longest window any rule reads are dropped as new events arrive, and keys
whose newest entry has left every window are swept now and then (amortised O(1)
per event), so keys that are never seen again do not pile up.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from typing import Any

import msgspec

from dsl.types import DURATION, KEY, NUMBER, FunctionSig, Param
from engine.detectors.base import Detector, StateFamily, hashable

_encode = msgspec.msgpack.Encoder().encode
_decode_log = msgspec.msgpack.Decoder(tuple[list[float], list[float]]).decode
_decode_values = msgspec.msgpack.Decoder(tuple[list[float], list[Any]]).decode


def _window_ok(consts: dict[str, Any]) -> str | None:
    w = consts.get("w")
    if w is not None and w <= 0:
        return "the window must be longer than 0s"
    return None


class _Sweep:
    """Forgets keys whose newest logged time has left the retention, every so often."""

    times: dict[Any, list[float]]
    retention: float

    def __init__(self) -> None:
        self.latest = -math.inf
        self._until_sweep = 1024

    def _tick(self, ts: float) -> None:
        if ts > self.latest:
            self.latest = ts
        self._until_sweep -= 1
        if self._until_sweep <= 0:
            cutoff = self.latest - self.retention
            for key in [k for k, times in self.times.items() if times[-1] <= cutoff]:
                self._forget(key)
            self._until_sweep = max(1024, len(self.times))

    def _forget(self, key: Any) -> None:
        raise NotImplementedError


class _TimedLog(StateFamily, _Sweep):
    """Per key: event times (sorted) and one recorded value per time, trimmed to the retention."""

    _decode: Any = None

    def __init__(self, retention: float) -> None:
        StateFamily.__init__(self, retention)
        _Sweep.__init__(self)
        self.times: dict[Any, list[float]] = {}
        self.recorded: dict[Any, list[Any]] = {}

    def _forget(self, key: Any) -> None:
        del self.times[key]
        del self.recorded[key]

    def _record(self, key: Any, ts: float, value: Any) -> None:
        self._tick(ts)
        times = self.times.get(key)
        if times is None:
            self.times[key] = [ts]
            self.recorded[key] = [value]
            return
        recorded = self.recorded[key]
        if ts >= times[-1]:
            times.append(ts)
            recorded.append(value)
        else:
            at = bisect_right(times, ts)
            times.insert(at, ts)
            recorded.insert(at, value)
        cut = bisect_right(times, times[-1] - self.retention)
        if cut:
            del times[:cut]
            del recorded[:cut]

    def entity_count(self) -> int:
        return len(self.times)

    def export_key(self, key: Any) -> bytes | None:
        times = self.times.get(key)
        return None if times is None else _encode((times, self.recorded[key]))

    def import_key(self, key: Any, data: bytes | None) -> None:
        if data is None:
            if key in self.times:
                self._forget(key)
            return
        times, recorded = self._decode(data)
        self.times[key] = times
        self.recorded[key] = self._restore(recorded)

    def _restore(self, recorded: list[Any]) -> list[Any]:
        return recorded


class EventLog(_TimedLog):
    """Per key: event times (sorted) and their amounts."""

    inputs = (("amount",),)
    _decode = staticmethod(_decode_log)

    @property
    def amounts(self) -> dict[Any, list[Any]]:
        return self.recorded

    def observe(self, key: Any, ts: float, *inputs: Any) -> None:
        if key is None:
            return
        self._record(key, ts, inputs[0] if inputs and inputs[0] is not None else 0.0)

    def span(self, key: Any, ts: float, w: float) -> tuple[int, int]:
        """Index range of the logged events of ``key`` in ``(ts - w, ts]``."""
        times = self.times.get(key)
        if not times:
            return (0, 0)
        return bisect_right(times, ts - w), bisect_right(times, ts)


class Velocity(Detector):
    sig = FunctionSig(
        "velocity",
        (Param("key", KEY), Param("w", DURATION, const=True)),
        NUMBER,
        stateful=True,
        validate=_window_ok,
        doc="events with this key in the window, the current one included",
    )
    family = EventLog

    @classmethod
    def query(cls, state: EventLog, consts: dict[str, Any], key: Any, ts: float, *args: Any) -> Any:
        if key is None:
            return None
        lo, hi = state.span(key, ts, consts["w"])
        return hi - lo + 1


class SumAmount(Detector):
    sig = FunctionSig(
        "sum_amount",
        (Param("key", KEY), Param("w", DURATION, const=True)),
        NUMBER,
        stateful=True,
        inputs=(("amount",),),
        validate=_window_ok,
        doc="sum of amount of the events with this key in the window, the current one included",
    )
    family = EventLog

    @classmethod
    def query(cls, state: EventLog, consts: dict[str, Any], key: Any, ts: float, *args: Any) -> Any:
        if key is None:
            return None
        lo, hi = state.span(key, ts, consts["w"])
        current = args[0] if args and args[0] is not None else 0.0
        amounts = state.amounts.get(key)
        return (sum(amounts[lo:hi]) if amounts else 0.0) + current


class ValueLog(_TimedLog):
    """Per key: sorted event times with the value seen at each."""

    inputs = ()
    _decode = staticmethod(_decode_values)

    @property
    def values(self) -> dict[Any, list[Any]]:
        return self.recorded

    def observe(self, key: Any, ts: float, *inputs: Any) -> None:
        value = inputs[0] if inputs else None
        if key is None or value is None:
            return
        self._record(key, ts, value)

    def _restore(self, recorded: list[Any]) -> list[Any]:
        return [hashable(v) for v in recorded]


class Distinct(Detector):
    sig = FunctionSig(
        "distinct",
        (Param("key", KEY), Param("value", KEY), Param("w", DURATION, const=True)),
        NUMBER,
        stateful=True,
        validate=_window_ok,
        doc="distinct values seen with this key in the window, the current one included",
    )
    family = ValueLog
    dynamic = ("key", "value")

    @classmethod
    def query(cls, state: ValueLog, consts: dict[str, Any], key: Any, ts: float, *args: Any) -> Any:
        if key is None:
            return None
        value = args[0] if args else None
        times = state.times.get(key)
        seen: set[Any] = set()
        if times:
            lo, hi = bisect_right(times, ts - consts["w"]), bisect_right(times, ts)
            seen = set(state.values[key][lo:hi])
        if value is not None:
            seen.add(value)
        return len(seen)
