"""Travel detectors: ``travel_kmh`` and ``impossible_travel``.

``travel_kmh(key)`` is the great-circle distance from the key's previous
geolocated event to this one, divided by the time between them. "Previous" is in
event time: the latest logged event of the key at or before this event's time, so
a late event is measured against the event before it, not the newest. Events less
than a second apart count as a second apart (timestamps are seldom finer, and
the speed stays finite). Null for a null key, an event without ``geo``, or no
earlier geolocated event of the key.

``impossible_travel(key, max_kmh: 900)`` is ``travel_kmh(key) > max_kmh`` (null when
the speed is).

Each key keeps its geolocated events of the last ``common.LATE_HORIZON`` (and
always its newest one), so state stays small however active the key.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

import msgspec

from dsl.types import BOOL, KEY, NUMBER, FunctionSig, Param
from engine.detectors.base import Detector
from engine.detectors.common import HISTORY_TTL, LATE_HORIZON, Keyed, haversine_km, kinds_with, positive

#: kinds whose events carry a position
GEO_KINDS = kinds_with("geo")
#: shortest time between two events, in seconds, when computing a speed
MIN_ELAPSED = 1.0


def speed_kmh(prev_ts: float, prev_lat: float, prev_lon: float, ts: float, lat: float, lon: float) -> float:
    """km/h needed to get from the previous position to this one in the time between."""
    hours = max(ts - prev_ts, MIN_ELAPSED) / 3600.0
    return haversine_km(prev_lat, prev_lon, lat, lon) / hours


class _Trail(msgspec.Struct):
    last: float
    times: list[float]
    lats: list[float]
    lons: list[float]


class GeoTrail(Keyed):
    """Per key: time-sorted positions of its recent geolocated events."""

    inputs = (("geo", "lat"), ("geo", "lon"))
    record = _Trail

    def __init__(self, retention: float) -> None:
        super().__init__(retention)
        self.entities: dict[Any, _Trail] = {}

    @property
    def horizon(self) -> float:
        """How far behind its newest position a key's positions are kept."""
        return LATE_HORIZON

    def observe(self, key: Any, ts: float, *inputs: Any) -> None:
        lat, lon = inputs if len(inputs) == 2 else (None, None)
        if key is None or lat is None or lon is None:
            return
        trail = self.entities.get(key)
        if trail is None:
            self.entities[key] = _Trail(ts, [ts], [lat], [lon])
        else:
            times = trail.times
            if ts >= times[-1]:
                times.append(ts)
                trail.lats.append(lat)
                trail.lons.append(lon)
                trail.last = ts
            else:
                at = bisect_right(times, ts)
                times.insert(at, ts)
                trail.lats.insert(at, lat)
                trail.lons.insert(at, lon)
            horizon = self.horizon
            if len(times) > 2 and times[0] < trail.last - 2 * horizon:
                cut = min(bisect_right(times, trail.last - horizon), len(times) - 1)
                del times[:cut]
                del trail.lats[:cut]
                del trail.lons[:cut]
        self.tick(ts)

    def previous(self, key: Any, ts: float) -> tuple[float, float, float] | None:
        """The latest logged position of ``key`` at or before ``ts``."""
        trail = self.entities.get(key)
        if trail is None:
            return None
        i = bisect_right(trail.times, ts) - 1
        if i < 0:
            return None
        return trail.times[i], trail.lats[i], trail.lons[i]


def _travel(state: GeoTrail, key: Any, ts: float, lat: Any, lon: Any) -> float | None:
    if key is None or lat is None or lon is None:
        return None
    prev = state.previous(key, ts)
    if prev is None:
        return None
    return speed_kmh(prev[0], prev[1], prev[2], ts, lat, lon)


class TravelKmh(Detector):
    sig = FunctionSig(
        "travel_kmh",
        (Param("key", KEY),),
        NUMBER,
        kinds=GEO_KINDS,
        stateful=True,
        inputs=(("geo", "lat"), ("geo", "lon")),
        doc="speed in km/h implied by the distance and time since this key's previous geolocated event",
    )
    family = GeoTrail

    @classmethod
    def retention(cls, consts: dict[str, Any]) -> float:
        return HISTORY_TTL

    @classmethod
    def query(cls, state: GeoTrail, consts: dict[str, Any], key: Any, ts: float, *args: Any) -> Any:
        return _travel(state, key, ts, *args[:2])


class ImpossibleTravel(Detector):
    sig = FunctionSig(
        "impossible_travel",
        (Param("key", KEY), Param("max_kmh", NUMBER, default=900, const=True)),
        BOOL,
        kinds=GEO_KINDS,
        stateful=True,
        inputs=(("geo", "lat"), ("geo", "lon")),
        validate=positive("max_kmh"),
        doc="whether travel_kmh(key) exceeds max_kmh",
    )
    family = GeoTrail

    @classmethod
    def retention(cls, consts: dict[str, Any]) -> float:
        return HISTORY_TTL

    @classmethod
    def query(cls, state: GeoTrail, consts: dict[str, Any], key: Any, ts: float, *args: Any) -> Any:
        speed = _travel(state, key, ts, *args[:2])
        return None if speed is None else speed > consts["max_kmh"]
