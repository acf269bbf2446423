"""Fleet detectors: ``over_tank_capacity``, ``fuel_far_from_vehicle``, ``consumption_zscore``, ``off_hours``.

* ``over_tank_capacity()`` (``fuel_purchase`` only): ``liters`` greater than the
  ``tank_liters`` of the event's vehicle in the ``vehicles`` reference table; null
  when the vehicle, its capacity or the liters are unknown.
* ``fuel_far_from_vehicle(max_age: 30m)`` (``fuel_purchase`` only): km between the
  station (the purchase's ``geo``) and the vehicle's latest ``vehicle_position`` at
  or before the purchase and less than ``max_age`` old, i.e. in ``(t - max_age, t]``.
  Positions feed the state even when the pack is not ``on vehicle_position``. Null
  without a vehicle, a purchase position or a recent enough vehicle position.
* ``consumption_zscore(vehicle)`` (``fuel_purchase`` only): the fill's consumption,
  ``liters / (odometer_km - previous fill's odometer_km) * 100`` (l/100 km; the
  previous fill is the vehicle's latest at or before this one in event time), as a
  z-score against the consumptions of the vehicle's earlier fills. Null without
  liters, odometer or a previous fill, when the odometer did not advance, under 5
  earlier consumptions, or with no spread among them.
* ``off_hours(schedule: "default")``: whether the event's time is outside the named
  working schedule of the ``schedules`` reference table (format in
  ``engine.refdata``); a missing ``default`` schedule means Monday to Friday 06:00 to
  20:00 UTC, any other missing or malformed schedule gives null.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from typing import Any, ClassVar

import msgspec

from dsl.types import BOOL, DURATION, KEY, NUMBER, STRING, FunctionSig, Param
from engine.detectors.amounts import zscore_of
from engine.detectors.base import Detector
from engine.detectors.common import (
    HISTORY_TTL,
    LATE_HORIZON,
    Keyed,
    Moments,
    NoState,
    Stateless,
    haversine_km,
    moments_add,
    positive,
)
from engine.detectors.travel import GeoTrail
from engine.refdata import DEFAULT_SCHEDULE, Schedule, schedule_of, zone

FUEL_KINDS = frozenset({"fuel_purchase"})
#: fewest earlier consumptions consumption_zscore needs
MIN_FILLS = 5


# ---- over_tank_capacity


def tank_liters(context: Any, vehicle_id: Any) -> float | None:
    """The vehicle's tank capacity from the ``vehicles`` reference table, if known."""
    if vehicle_id is None or context is None:
        return None
    record = context.refs.get("vehicles", {}).get(str(vehicle_id))
    if record is None:
        return None
    value = record.get("tank_liters")
    if isinstance(value, bool):
        return None
    try:
        capacity = float(value)
    except (TypeError, ValueError):
        return None
    return capacity if capacity > 0 else None


class OverTankCapacity(Stateless):
    sig = FunctionSig(
        "over_tank_capacity",
        (),
        BOOL,
        kinds=FUEL_KINDS,
        stateful=True,
        inputs=(("vehicle_id",), ("liters",)),
        doc="whether liters exceed the vehicle's tank capacity (vehicles reference data)",
    )

    @classmethod
    def query(cls, state: NoState, consts: dict[str, Any], key: Any, ts: float, *args: Any) -> Any:
        vehicle_id, liters = args
        capacity = tank_liters(state.context, vehicle_id)
        if capacity is None or liters is None:
            return None
        return liters > capacity


# ---- fuel_far_from_vehicle


class PositionLog(GeoTrail):
    """Per vehicle: its positions of the last ``max_age``, fed by ``vehicle_position`` events."""

    observes = False
    feeds: ClassVar[dict[str, tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]]] = {
        "vehicle_position": (("vehicle_id",), (("geo", "lat"), ("geo", "lon")))
    }
    query_key = ("vehicle_id",)

    @property
    def horizon(self) -> float:
        return self.retention


def distance_to_vehicle(
    position: tuple[float, float, float] | None, ts: float, max_age: float, lat: float, lon: float
) -> float | None:
    """km from (lat, lon) to a position logged in ``(ts - max_age, ts]``; null without one."""
    if position is None or position[0] <= ts - max_age:
        return None
    return haversine_km(position[1], position[2], lat, lon)


class FuelFarFromVehicle(Detector):
    sig = FunctionSig(
        "fuel_far_from_vehicle",
        (Param("max_age", DURATION, default=1800.0, const=True),),
        NUMBER,
        kinds=FUEL_KINDS,
        stateful=True,
        inputs=(("vehicle_id",), ("geo", "lat"), ("geo", "lon")),
        validate=positive("max_age"),
        doc="km between the station and the vehicle's last vehicle_position within max_age",
    )
    family = PositionLog
    dynamic = ()

    @classmethod
    def retention(cls, consts: dict[str, Any]) -> float:
        return float(consts["max_age"])

    @classmethod
    def query(cls, state: PositionLog, consts: dict[str, Any], key: Any, ts: float, *args: Any) -> Any:
        vehicle_id, lat, lon = args
        if vehicle_id is None or lat is None or lon is None:
            return None
        return distance_to_vehicle(state.previous(vehicle_id, ts), ts, consts["max_age"], lat, lon)


# ---- consumption_zscore


def consumption(liters: float | None, odometer: float, previous_odometer: float) -> float | None:
    """Liters per 100 km since the previous fill; null when the odometer did not advance."""
    if liters is None or odometer <= previous_odometer:
        return None
    return liters / (odometer - previous_odometer) * 100.0


class _Fills(msgspec.Struct):
    last: float
    times: list[float]
    odometers: list[float]
    history: Moments | None = None


class FillLog(Keyed):
    """Per vehicle: recent fills (time, odometer) and the moments of its consumptions."""

    inputs = (("liters",), ("odometer_km",))
    record = _Fills

    def __init__(self, retention: float) -> None:
        super().__init__(retention)
        self.entities: dict[Any, _Fills] = {}

    def observe(self, key: Any, ts: float, *inputs: Any) -> None:
        liters, odometer = inputs if len(inputs) == 2 else (None, None)
        if key is None or odometer is None:
            return
        rec = self.entities.get(key)
        if rec is None:
            self.entities[key] = _Fills(ts, [ts], [odometer])
            self.tick(ts)
            return
        at = bisect_right(rec.times, ts)
        if at > 0:
            used = consumption(liters, odometer, rec.odometers[at - 1])
            if used is not None:
                if rec.history is None:
                    rec.history = Moments(ts, used)
                moments_add(rec.history, ts, used)
        rec.times.insert(at, ts)
        rec.odometers.insert(at, odometer)
        if ts > rec.last:
            rec.last = ts
        times = rec.times
        if len(times) > 2 and times[0] < rec.last - 2 * LATE_HORIZON:
            cut = min(bisect_right(times, rec.last - LATE_HORIZON), len(times) - 1)
            del times[:cut]
            del rec.odometers[:cut]
        self.tick(ts)

    def current(self, key: Any, ts: float, liters: Any, odometer: Any) -> float | None:
        """The consumption of a fill at ``ts`` (not yet logged), from the fill before it."""
        rec = self.entities.get(key)
        if rec is None or odometer is None:
            return None
        at = bisect_right(rec.times, ts)
        return consumption(liters, odometer, rec.odometers[at - 1]) if at > 0 else None


class ConsumptionZscore(Detector):
    sig = FunctionSig(
        "consumption_zscore",
        (Param("vehicle", KEY),),
        NUMBER,
        kinds=FUEL_KINDS,
        stateful=True,
        inputs=(("liters",), ("odometer_km",)),
        doc="z-score of liters per 100 km since the previous fill against the vehicle's history",
    )
    family = FillLog
    dynamic = ("vehicle",)

    @classmethod
    def retention(cls, consts: dict[str, Any]) -> float:
        return HISTORY_TTL

    @classmethod
    def query(cls, state: FillLog, consts: dict[str, Any], key: Any, ts: float, *args: Any) -> Any:
        liters, odometer = args
        if key is None:
            return None
        used = state.current(key, ts, liters, odometer)
        if used is None:
            return None
        history = state.entities[key].history
        return None if history is None else zscore_of(history, ts, used, MIN_FILLS)


# ---- off_hours


def working(schedule: Schedule, ts: float) -> bool:
    """Whether epoch time ``ts`` falls in a shift of the schedule."""
    tz = zone(schedule.tz)
    if tz is dt.UTC:
        day, second = divmod(ts, 86400.0)
        weekday = (int(day) + 3) % 7  # 1970-01-01 was a Thursday
    else:
        local = dt.datetime.fromtimestamp(ts, tz)
        weekday = local.weekday()
        second = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
    start, end = schedule.start_seconds, schedule.end_seconds
    days = schedule.days
    if start < end:
        return weekday in days and start <= second < end
    # overnight: the shift starts on one of the days and ends on the next day
    return (weekday in days and second >= start) or ((weekday - 1) % 7 in days and second < end)


class ScheduleCache(NoState):
    """Parsed schedules by name, re-read when the reference record is replaced."""

    def __init__(self, retention: float) -> None:
        super().__init__(retention)
        self.parsed: dict[str, tuple[Any, Schedule | None]] = {}

    def schedule(self, name: str) -> Schedule | None:
        refs = self.context.refs.get("schedules", {}) if self.context is not None else {}
        record = refs.get(name)
        if record is None:
            return DEFAULT_SCHEDULE if name == "default" else None
        cached = self.parsed.get(name)
        if cached is not None and cached[0] is record:
            return cached[1]
        parsed = schedule_of(record)
        self.parsed[name] = (record, parsed)
        return parsed


class OffHours(Stateless):
    sig = FunctionSig(
        "off_hours",
        (Param("schedule", STRING, default="default", const=True),),
        BOOL,
        stateful=True,
        validate=lambda consts: "'schedule' must name a schedule" if consts.get("schedule") == "" else None,
        doc="whether the event is outside the tenant's named working schedule (schedules reference data)",
    )
    family = ScheduleCache

    @classmethod
    def query(cls, state: ScheduleCache, consts: dict[str, Any], key: Any, ts: float, *args: Any) -> Any:
        schedule = state.schedule(consts["schedule"])
        return None if schedule is None else not working(schedule, ts)
