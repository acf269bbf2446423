"""Fleet vehicles: working days of driving, GPS positions and fuel-card purchases.

Each vehicle (car, van or truck, tank 40-90 l) belongs to a depot in Germany,
has a main driver and one fuel card. On weekdays (and for a few vehicles on
Saturday mornings) it leaves the depot between 06:00 and 08:30, drives to a few
stops within its radius and is back before 20:00, reporting its position every
three to seven minutes while the ignition is on. Fuel is burnt per kilometre at
the vehicle's consumption; when the tank runs low the driver detours to a
station on the way and fills up, so an honest purchase happens where the
vehicle's latest position is. Fraud episodes bend exactly one of those facts.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from typing import Any

from engine.events import FuelPurchase, Geo, VehiclePosition
from engine.simulate._core import (
    DAY_MS,
    HOUR_MS,
    LEGIT,
    MINUTE_MS,
    City,
    Draft,
    EpisodeClock,
    Sink,
    child_rng,
    hour_of_day,
    jitter,
    near,
    run_blocks,
    tier,
    weekday,
)

FUEL_SCENARIOS: list[tuple[str, str]] = [
    ("over_capacity", "more liters than the vehicle's tank holds (jerry cans, another car)"),
    ("far_from_vehicle", "the card used 15-150 km from where the vehicle is driving at that moment"),
    ("card_shared_across_vehicles", "one vehicle's card filling three other vehicles within hours"),
    ("night_fill", "more than 40 l outside the 06:00-20:00 weekday schedule while the vehicle is parked"),
    (
        "abnormal_consumption",
        "a large fill soon after the previous one: far more liters per 100 km than usual",
    ),
]
POSITION_SCENARIOS: list[tuple[str, str]] = [
    ("gps_jump", "one or two positions hundreds of km off the route, minutes apart (spoofed GPS)"),
    ("private_night_trip", "the vehicle driven for private use at night"),
]

#: the largest fleet a stream uses; ``fleet_vehicles`` describes all of them
MAX_FLEET = 1024

# Vehicle types: (name, weight, tank range l, consumption range l/100 km, radius km, fuel types)
_TYPES: tuple[tuple[str, float, tuple[int, int], tuple[float, float], float, tuple[str, ...]], ...] = (
    ("car", 0.4, (40, 55), (5.5, 8.5), 45.0, ("petrol", "diesel")),
    ("van", 0.45, (60, 80), (8.0, 12.5), 60.0, ("diesel",)),
    ("truck", 0.15, (80, 90), (14.0, 22.0), 110.0, ("diesel",)),
)
_DEPOTS: tuple[City, ...] = (
    City("Berlin", "DE", 52.520, 13.405),
    City("Hamburg", "DE", 53.551, 9.994),
    City("Munich", "DE", 48.137, 11.575),
    City("Cologne", "DE", 50.938, 6.960),
    City("Frankfurt", "DE", 50.110, 8.682),
    City("Leipzig", "DE", 51.340, 12.375),
    City("Stuttgart", "DE", 48.776, 9.183),
    City("Hanover", "DE", 52.376, 9.732),
)
_PRICE = {"diesel": 1.69, "petrol": 1.79}
#: road distance over great-circle distance
_ROAD = 1.3
#: per stream kind: (vehicle-days per event, episodes per vehicle-day, bag)
_KINDS: dict[str, tuple[int, float, list[str]]] = {
    "fleet": (1300, 0.025, [s for s, _ in FUEL_SCENARIOS + POSITION_SCENARIOS]),
    "fuel_purchase": (40, 0.016, [s for s, _ in FUEL_SCENARIOS]),
    "vehicle_position": (1300, 0.02, [s for s, _ in POSITION_SCENARIOS]),
}
_NEEDS_DRIVING = frozenset({"far_from_vehicle", "gps_jump"})


class Vehicle:
    """One vehicle: reference data, and its state while the stream runs."""

    __slots__ = (
        "card",
        "consumption",
        "day_odometer",
        "depot",
        "depot_geo",
        "driver",
        "filled_at",
        "fuel_type",
        "id",
        "level",
        "odometer",
        "overfill",
        "radius",
        "reserve",
        "saturday",
        "tank",
        "thirsty",
        "trail",
        "type",
    )

    def __init__(self, rng: random.Random, index: int) -> None:
        name, _, (t_lo, t_hi), (c_lo, c_hi), radius, fuels = rng.choices(
            _TYPES, weights=[t[1] for t in _TYPES]
        )[0]
        self.id = f"v{index}"
        self.type = name
        self.tank = rng.randint(t_lo, t_hi)
        self.consumption = round(rng.uniform(c_lo, c_hi), 1)
        self.fuel_type = rng.choice(fuels)
        self.radius = radius
        self.depot = rng.choice(_DEPOTS)
        self.depot_geo = jitter(rng, self.depot.lat, self.depot.lon, 8.0)
        self.card = f"fc{index:04d}"
        self.driver = f"dr{index:04d}"
        self.saturday = rng.random() < 0.1
        # Drivers fill up when the tank falls under a quarter to a half.
        self.reserve = self.tank * rng.uniform(0.25, 0.5)
        self.odometer = round(rng.uniform(5_000.0, 180_000.0), 1)
        self.level = self.tank * rng.uniform(0.4, 1.0)
        # The odometer at the last fill in the stream; none yet, so nothing counts as "soon after".
        self.filled_at = -math.inf
        # Fraud staged on the vehicle, done at its next fill (over capacity) or
        # at the first stop after its next honest fill (abnormal consumption).
        self.overfill = False
        self.thirsty = False
        # Today's driving as (start ms, start km, end ms, end km), so purchases staged
        # out of time order can still read the odometer as it was at their moment.
        self.trail: list[tuple[int, float, int, float]] = []
        self.day_odometer = self.odometer

    def odometer_at(self, t: int) -> float:
        """The odometer at ``t`` today, between the positions reported around it."""
        odometer = self.day_odometer
        for t0, km0, t1, km1 in self.trail:
            if t < t0:
                break
            if t < t1:
                return round(km0 + (km1 - km0) * (t - t0) / (t1 - t0), 1)
            odometer = km1
        return odometer

    def reference(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tank_liters": self.tank,
            "type": self.type,
            "fuel_type": self.fuel_type,
            "consumption_l_per_100km": self.consumption,
            "card_id": self.card,
            "driver_id": self.driver,
            "depot": self.depot.name,
            "depot_geo": {"lat": self.depot_geo.lat, "lon": self.depot_geo.lon},
        }


def _fleet(seed: int, size: int) -> list[Vehicle]:
    # One generator drawn in vehicle order: the first k vehicles are the same whatever the size.
    rng = child_rng(seed, "fleet-vehicles")
    return [Vehicle(rng, i + 1) for i in range(size)]


def fleet_vehicles(seed: int = 7, size: int = MAX_FLEET) -> list[dict[str, Any]]:
    """Reference data of the fleet of ``seed``: ``{"id": "v7", "tank_liters": 60, ...}``.

    A stream uses the first vehicles of this list (more for longer streams), so
    the default, the whole fleet, covers every stream of the seed.
    """
    return [v.reference() for v in _fleet(seed, size)]


def _station(geo: Geo) -> tuple[str, Geo]:
    """The station nearest to ``geo`` on a ~500 m grid, with its id."""
    la = round(geo.lat * 200)
    lo = round(geo.lon * 200)
    return f"st{la:+06d}{lo:+06d}", Geo(la / 200, lo / 200)


def _minutes(rng: random.Random, low: int, high: int) -> int:
    """Between ``low`` and ``high`` minutes, in ms (randint costs several times more)."""
    return int((low + (high - low) * rng.random()) * MINUTE_MS)


def _km(a: Geo, b: Geo) -> float:
    """Great-circle distance, flat-earth approximated: good to 0.1% over a few hundred km."""
    dy = a.lat - b.lat
    dx = (a.lon - b.lon) * math.cos(math.radians((a.lat + b.lat) * 0.5))
    return 111.195 * math.sqrt(dx * dx + dy * dy)


def _away(rng: random.Random, geo: Geo, km: float) -> Geo:
    """A point ``km`` from ``geo`` in a random direction."""
    angle = rng.random() * math.tau
    dlat = km * math.cos(angle) / 111.195
    dlon = km * math.sin(angle) / (111.195 * math.cos(math.radians(geo.lat)))
    return Geo(round(geo.lat + dlat, 5), round(geo.lon + dlon, 5))


def _lerp(a: Geo, b: Geo, f: float) -> Geo:
    return Geo(round(a.lat + (b.lat - a.lat) * f, 5), round(a.lon + (b.lon - a.lon) * f, 5))


class FleetWorld:
    """The vehicles and episode clock of one fleet stream; fills one day per block."""

    def __init__(self, seed: int, n: int, start_ms: int, kind: str) -> None:
        per_vehicle, rate, bag = _KINDS[kind]
        self.start_ms = start_ms
        self.vehicles = _fleet(seed, tier(n, per_vehicle, 8, MAX_FLEET))
        self.rng = child_rng(seed, f"fleet-stream-{kind}-{len(self.vehicles)}")
        self.positions = kind != "fuel_purchase"
        self.pending: list[str] = []
        self.clock = EpisodeClock(self.rng, bag, DAY_MS / (rate * len(self.vehicles)), start_ms)

    def stream(self) -> Iterator[Draft]:
        return run_blocks(self.start_ms, DAY_MS, self.fill)

    def fill(self, sink: Sink, lo: int, hi: int) -> None:
        rng = self.rng
        day0 = lo - lo % DAY_MS
        wd = weekday(day0)
        for v in self.vehicles:
            v.trail.clear()
            v.day_odometer = v.odometer
        working = [v for v in self.vehicles if wd < 5 or (wd == 5 and v.saturday)]
        tasks: dict[str, set[str]] = {}
        later: list[tuple[int, str]] = []
        episodes = [(lo, s) for s in self.pending] + self.clock.due(hi)
        self.pending = []
        for ts, scenario in episodes:
            if scenario in _NEEDS_DRIVING:
                if working:
                    tasks.setdefault(rng.choice(working).id, set()).add(scenario)
                else:
                    self.pending.append(scenario)
            elif scenario == "over_capacity":
                rng.choice(self.vehicles).overfill = True
            elif scenario == "abnormal_consumption":
                rng.choice(self.vehicles).thirsty = True
            else:
                later.append((ts, scenario))
        for v in working:
            staged = tasks.get(v.id, set())
            if not self.positions and not staged:
                self.summary_day(sink, v, day0, lo, wd == 5)
                continue
            self.drive_day(sink, v, day0, lo, staged, wd == 5)
            # A day too short to stage it on: try again tomorrow.
            self.pending.extend(sorted(staged))
        # Night trips first: a purchase staged later may read the odometer they moved.
        later.sort(key=lambda episode: episode[1] != "private_night_trip")
        for ts, scenario in later:
            if scenario == "night_fill":
                self.night_fill(sink, ts, day0, wd)
            elif scenario == "private_night_trip":
                self.night_trip(sink, day0, lo)
            else:
                self.shared_card(sink, ts, day0)

    # --- honest driving ------------------------------------------------------

    def summary_day(self, sink: Sink, v: Vehicle, day0: int, lo: int, saturday: bool) -> None:
        """A working day without positions to report: kilometres, and a fill if the tank needs one.

        A day covers about 4.6 times the vehicle's radius, a Saturday 2.4 (as
        measured on the stop-by-stop model of ``drive_day``). The fill comes when
        the level reaches the reserve, at a station within the vehicle's radius;
        that is all a purchase-only stream shows, at a third of the cost.
        """
        rng = self.rng
        if saturday:
            start, end = (
                day0 + int(rng.uniform(7.0, 8.0) * HOUR_MS),
                day0 + int(rng.uniform(12.0, 13.5) * HOUR_MS),
            )
            km = v.radius * rng.uniform(0.8, 4.0)
        else:
            start, end = (
                day0 + int(rng.uniform(6.05, 8.5) * HOUR_MS),
                day0 + int(rng.uniform(16.0, 19.0) * HOUR_MS),
            )
            km = v.radius * rng.uniform(1.8, 7.4)
        start = max(start, lo)
        if start >= end:
            return
        burnt = km * v.consumption / 100.0 * rng.uniform(0.9, 1.1)
        # Every odometer reading is taken from the day's start, as the trail
        # interpolates it, so rounding never makes one run backwards.
        odo0, odo1 = v.odometer, round(v.odometer + km, 1)
        v.trail.append((start, odo0, end, odo1))
        if v.level - burnt >= v.reserve:
            v.odometer = odo1
            v.level -= burnt
            return
        share = min(0.95, max(0.05, (v.level - v.reserve) / burnt))
        t = start + int((end - start) * share)
        v.odometer = v.odometer_at(t)
        v.level = max(1.0, v.level - burnt * share)
        station, geo = _station(jitter(rng, v.depot_geo.lat, v.depot_geo.lon, v.radius))
        self.refuel(sink, v, t, station, geo)
        if v.thirsty:
            # The siphoning stop, later the same day.
            later = t + int((end - t) * rng.uniform(0.2, 0.8))
            v.odometer = v.odometer_at(later)
            since = v.odometer - v.filled_at
            if 0.0 < since * v.consumption * 0.035 <= 0.95 * v.tank:
                self.thirsty_fill(sink, v, later, geo)
        v.odometer = odo1
        v.level = max(1.0, v.level - burnt * (1.0 - share))

    def drive_day(self, sink: Sink, v: Vehicle, day0: int, lo: int, tasks: set[str], saturday: bool) -> None:
        """One working day of ``v``; ``tasks`` (fraud to stage on the road) loses what was staged."""
        rng = self.rng
        if saturday:
            t = day0 + int(rng.uniform(7.0, 8.0) * HOUR_MS)
            end_by = day0 + int(rng.uniform(12.0, 13.5) * HOUR_MS)
            stops = rng.randint(1, 3)
        else:
            t = day0 + int(rng.uniform(6.05, 8.5) * HOUR_MS)
            end_by = day0 + int(rng.uniform(16.0, 19.0) * HOUR_MS)
            stops = rng.randint(2, 5)
        t = max(t, lo)
        if t >= end_by:
            return
        here = v.depot_geo
        depot = v.depot_geo
        for i in range(stops + 1):
            last = i == stops
            dest = depot if last else jitter(rng, depot.lat, depot.lon, v.radius)
            km = _km(here, dest) * _ROAD
            if not last:
                home = _km(dest, depot) * _ROAD
                # Back at the depot before the end of the shift, whatever the traffic.
                if t + int(((km + home) / 45.0 + 0.5) * HOUR_MS) > end_by:
                    last = True
                    dest = depot
                    km = _km(here, dest) * _ROAD
            if v.level - km * v.consumption / 100.0 < v.reserve:
                # A detour to a station on the way; the vehicle reports its position
                # there, so an honest fill is where the vehicle is.
                station, stop_geo = _station(jitter(rng, *_mid(here, dest, rng.uniform(0.3, 0.7)), 0.8))
                t = self.segment(sink, v, t, here, stop_geo, tasks)
                t += _minutes(rng, 2, 5)
                self.refuel(sink, v, t, station, stop_geo)
                t += _minutes(rng, 4, 9)
                here = stop_geo
                km = _km(here, dest) * _ROAD
            t = self.segment(sink, v, t, here, dest, tasks, km=km)
            here = dest
            if last:
                return
            # Only soon after a fill can the siphoned liters stand out: at least 3.5
            # times what the kilometres since burnt, and still within the tank.
            since = v.odometer - v.filled_at
            if v.thirsty and 0.0 < since * v.consumption * 0.035 <= 0.95 * v.tank:
                self.thirsty_fill(sink, v, t + _minutes(rng, 2, 8), here)
            t += _minutes(rng, 10, 50)

    def segment(
        self,
        sink: Sink,
        v: Vehicle,
        t: int,
        a: Geo,
        b: Geo,
        tasks: set[str],
        scenario: str = LEGIT,
        km: float | None = None,
    ) -> int:
        """Drive from ``a`` to ``b`` (``km`` by road, if known) starting at ``t``; returns the arrival time."""
        rng = self.rng
        km = max(1.0, _km(a, b) * _ROAD if km is None else km)
        kmh = 22.0 + min(60.0, km * 0.7) + rng.uniform(-4.0, 4.0)
        duration = int(km / kmh * HOUR_MS)
        odo0 = v.odometer
        # Every reading on the way interpolates to the rounded arrival reading,
        # exactly as Vehicle.odometer_at does.
        odo1 = round(odo0 + km, 1)
        v.trail.append((t, odo0, t + duration, odo1))
        if self.positions:
            samples: list[int] = []
            s = t
            while s < t + duration:
                samples.append(s)
                s += int(180_000 + 240_000 * rng.random())
            jumped: set[int] = set()
            if "gps_jump" in tasks and len(samples) >= 3:
                tasks.discard("gps_jump")
                k = rng.randrange(1, len(samples) - 1)
                jumped = {k, k + 1} if rng.random() < 0.5 else {k}
            for k, s in enumerate(samples):
                f = (s - t) / duration
                geo = _lerp(a, b, f)
                label = scenario
                if k in jumped:
                    geo = _away(rng, geo, rng.uniform(60.0, 400.0))
                    label = "gps_jump"
                speed = 0.0 if k == 0 else round(min(130.0, kmh * rng.uniform(0.55, 1.4)), 1)
                sink.add(s, VehiclePosition, self.position(v, geo, speed, v.odometer_at(s), True), label)
            sink.add(t + duration, VehiclePosition, self.position(v, b, 0.0, odo1, False), scenario)
        if "far_from_vehicle" in tasks:
            tasks.discard("far_from_vehicle")
            # The card at a pump far away while the vehicle is on the road: positions
            # within the last few minutes say where the vehicle really is.
            s = t + int(duration * rng.uniform(0.3, 0.8))
            here = _lerp(a, b, (s - t) / duration)
            station, geo = _station(_away(rng, here, rng.uniform(15.0, 150.0)))
            liters = round(rng.uniform(25.0, 0.9 * v.tank), 2)
            fields = self.purchase(v, liters, station, geo, v.odometer_at(s))
            sink.add(s, FuelPurchase, fields, "far_from_vehicle")
        v.odometer = odo1
        v.level = max(1.0, v.level - km * v.consumption / 100.0 * rng.uniform(0.9, 1.1))
        return t + duration

    def position(self, v: Vehicle, geo: Geo, speed: float, odometer: float, ignition: bool) -> dict[str, Any]:
        return {
            "vehicle_id": v.id,
            "driver_id": v.driver,
            "geo": geo,
            "speed_kmh": speed,
            "odometer_km": round(odometer, 1),
            "ignition": ignition,
        }

    def purchase(
        self,
        v: Vehicle,
        liters: float,
        station: str,
        geo: Geo,
        odometer: float,
        card: str | None = None,
        driver: str | None = None,
    ) -> dict[str, Any]:
        price = _PRICE[v.fuel_type] * self.rng.uniform(0.97, 1.03)
        return {
            "amount": round(liters * price, 2),
            "liters": liters,
            "fuel_type": v.fuel_type,
            "card_id": card or v.card,
            "driver_id": driver or v.driver,
            "vehicle_id": v.id,
            "station_id": station,
            "geo": geo,
            "odometer_km": round(odometer, 1),
        }

    def refuel(self, sink: Sink, v: Vehicle, t: int, station: str, geo: Geo) -> None:
        rng = self.rng
        if v.overfill:
            liters = round(v.tank * rng.uniform(1.15, 1.7), 2)
            scenario = "over_capacity"
            v.overfill = False
        else:
            liters = round((v.tank - v.level) * rng.uniform(0.97, 1.0), 2)
            scenario = "legit"
        v.level = v.tank * rng.uniform(0.98, 1.0)
        v.filled_at = v.odometer
        sink.add(t, FuelPurchase, self.purchase(v, liters, station, geo, v.odometer), scenario)

    def thirsty_fill(self, sink: Sink, v: Vehicle, t: int, here: Geo) -> None:
        """Fuel siphoned into cans soon after a fill: liters far beyond what the kilometres since burnt."""
        rng = self.rng
        v.thirsty = False
        km = v.odometer - v.filled_at
        liters = min(0.95 * v.tank, max(20.0, km * v.consumption / 100.0 * rng.uniform(4.0, 8.0)))
        station, geo = _station(near(rng, here, 0.3))
        fields = self.purchase(v, round(liters, 2), station, geo, v.odometer)
        sink.add(t, FuelPurchase, fields, "abnormal_consumption")

    # --- fraud away from the working day ----------------------------------------

    def night_fill(self, sink: Sink, ts: int, day0: int, wd: int) -> None:
        rng = self.rng
        v = rng.choice([v for v in self.vehicles if v.tank >= 50] or self.vehicles)
        # Weekday evenings and weekend days; never after midnight, when last
        # night's private trips may still be on the road.
        hours = (20.75, 23.75) if wd < 5 else (9.0, 21.0)
        ts = max(ts, day0 + int(rng.uniform(*hours) * HOUR_MS))
        # At a station near the driver's home, with the vehicle parked at the depot.
        station, geo = _station(jitter(rng, v.depot_geo.lat, v.depot_geo.lon, 20.0))
        liters = round(rng.uniform(41.0, min(75.0, float(v.tank))), 2)
        fields = self.purchase(v, liters, station, geo, v.odometer_at(ts))
        sink.add(ts, FuelPurchase, fields, "night_fill")

    def night_trip(self, sink: Sink, day0: int, lo: int) -> None:
        rng = self.rng
        v = rng.choice(self.vehicles)
        t = max(lo, day0 + int(rng.uniform(21.0, 22.5) * HOUR_MS))
        there = jitter(rng, v.depot_geo.lat, v.depot_geo.lon, rng.uniform(20.0, 70.0))
        t = self.segment(sink, v, t, v.depot_geo, there, set(), "private_night_trip")
        t += _minutes(rng, 15, 45)
        self.segment(sink, v, t, there, v.depot_geo, set(), "private_night_trip")

    def shared_card(self, sink: Sink, ts: int, day0: int) -> None:
        rng = self.rng
        owner = rng.choice(self.vehicles)
        others = rng.sample([v for v in self.vehicles if v is not owner], 3)
        if not 7 <= hour_of_day(ts) < 16:
            ts = max(ts, day0 + int(rng.uniform(8.0, 15.0) * HOUR_MS))
        for other in others:
            station, geo = _station(jitter(rng, owner.depot_geo.lat, owner.depot_geo.lon, 15.0))
            liters = round(rng.uniform(25.0, min(60.0, 0.9 * other.tank)), 2)
            odometer = other.odometer_at(ts)
            fields = self.purchase(other, liters, station, geo, odometer, owner.card, owner.driver)
            sink.add(ts, FuelPurchase, fields, "card_shared_across_vehicles")
            ts += _minutes(rng, 15, 90)


def _mid(a: Geo, b: Geo, f: float) -> tuple[float, float]:
    return a.lat + (b.lat - a.lat) * f, a.lon + (b.lon - a.lon) * f


def fleet_drafts(seed: int, n: int, start_ms: int, kind: str) -> Iterator[Draft]:
    """Drafts of positions and purchases for ``kind`` = ``fleet``, ``fuel_purchase`` or ``vehicle_position``."""
    return FleetWorld(seed, n, start_ms, kind).stream()
