"""over_tank_capacity, fuel_far_from_vehicle, consumption_zscore and off_hours."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from test_detectors_harness import T0, Probe, ev, pack_error

from engine.detectors.fleet import consumption, distance_to_vehicle, working
from engine.refdata import DEFAULT_SCHEDULE, Schedule

#: 0.1 degree of longitude on the equator, km
TENTH_DEGREE_KM = 6371.0088 * math.pi / 1800


def fuel(at: float, vehicle: str | None = "v7", **fields: object) -> object:
    return ev("fuel_purchase", at, vehicle_id=vehicle, card_id="fc1", **fields)


def position(at: float, lon: float, vehicle: str | None = "v7", lat: float = 0.0) -> object:
    return ev("vehicle_position", at, vehicle_id=vehicle, geo={"lat": lat, "lon": lon})


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> float:
    """Offset from T0 of a UTC wall-clock time."""
    return (dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC) - T0).total_seconds()


# ---- over_tank_capacity


def test_over_tank_capacity_against_the_vehicle_reference() -> None:
    probe = Probe("over_tank_capacity()", on="fuel_purchase")
    probe.ref("vehicles", id="v7", tank_liters=60)
    values = probe.run(
        fuel(0, liters=60.0),
        fuel(60, liters=60.5),
        fuel(120, liters=None),
        fuel(180, vehicle="v8", liters=500.0),  # unknown vehicle
        fuel(240, vehicle=None, liters=500.0),
    )
    assert values == [False, True, None, None, None]
    probe.ref("vehicles", id="v7", tank_liters=80)  # replaced
    assert probe.one(fuel(300, liters=70.0)) is False


def test_over_tank_capacity_diagnostics() -> None:
    assert "'over_tank_capacity' cannot serve payment events (only fuel_purchase)" in pack_error(
        "over_tank_capacity()"
    )
    assert "over_tank_capacity() takes at most 0 arguments" in pack_error(
        "over_tank_capacity(60)", on="fuel_purchase"
    )


# ---- fuel_far_from_vehicle


def test_distance_to_the_vehicles_last_position_fed_by_another_kind() -> None:
    probe = Probe("fuel_far_from_vehicle()", on="fuel_purchase")
    assert probe.run(position(0, 0.0)) == []  # feeds the state, no decision
    assert probe.one(fuel(60, geo={"lat": 0.0, "lon": 0.1})) == pytest.approx(TENTH_DEGREE_KM)  # 11.12 km
    probe.run(position(120, 0.1))
    assert probe.one(fuel(180, geo={"lat": 0.0, "lon": 0.1})) == pytest.approx(0.0, abs=1e-9)


def test_max_age_window_boundary() -> None:
    probe = Probe("fuel_far_from_vehicle(max_age: 30m)", on="fuel_purchase")
    probe.run(position(0, 0.0))
    assert probe.one(fuel(1799, geo={"lat": 0.0, "lon": 0.0})) == 0.0
    assert probe.one(fuel(1800, geo={"lat": 0.0, "lon": 0.0})) is None  # exactly 30m old: out
    short = Probe("fuel_far_from_vehicle(max_age: 5m)", on="fuel_purchase")
    short.run(position(0, 0.0))
    assert short.one(fuel(301, geo={"lat": 0.0, "lon": 0.0})) is None


def test_late_positions_and_late_purchases_use_the_position_before_the_purchase() -> None:
    probe = Probe("fuel_far_from_vehicle()", on="fuel_purchase")
    probe.run(position(1000, 0.2), position(500, 0.1))  # the second arrives late
    assert probe.one(fuel(600, geo={"lat": 0.0, "lon": 0.1})) == pytest.approx(0.0, abs=1e-9)
    assert probe.one(fuel(1100, geo={"lat": 0.0, "lon": 0.1})) == pytest.approx(TENTH_DEGREE_KM)
    assert probe.one(fuel(400, geo={"lat": 0.0, "lon": 0.1})) is None  # no position before it


def test_fuel_far_nulls() -> None:
    probe = Probe("fuel_far_from_vehicle()", on="fuel_purchase")
    probe.run(position(0, 0.0), position(0, 0.0, vehicle=None))
    assert probe.one(fuel(60, geo=None)) is None
    assert probe.one(fuel(60, vehicle=None, geo={"lat": 0.0, "lon": 0.0})) is None
    assert probe.one(fuel(60, vehicle="v9", geo={"lat": 0.0, "lon": 0.0})) is None
    assert distance_to_vehicle(None, 0.0, 60.0, 0.0, 0.0) is None


def test_fuel_far_in_a_pack_on_both_kinds() -> None:
    probe = Probe(
        "",
        on="fuel_purchase, vehicle_position",
        condition='event.kind == "fuel_purchase" and fuel_far_from_vehicle() > 2.0',
    )
    decisions = probe.engine.evaluate_many([position(0, 0.0), fuel(60, geo={"lat": 0.0, "lon": 0.1})])
    assert [d.outcome for d in decisions] == ["approve", "approve"]
    assert [len(d.hits) for d in decisions] == [0, 1]


def test_fuel_far_diagnostics() -> None:
    assert "'fuel_far_from_vehicle' cannot serve vehicle_position events" in pack_error(
        "fuel_far_from_vehicle() > 2", on="vehicle_position"
    )
    assert "'max_age' must be duration, not number" in pack_error(
        "fuel_far_from_vehicle(max_age: 30) > 2", on="fuel_purchase"
    )


# ---- consumption_zscore


def fill(at: float, liters: float | None, odometer: float | None, vehicle: str | None = "v1") -> object:
    return ev("fuel_purchase", at, vehicle_id=vehicle, liters=liters, odometer_km=odometer)


def test_consumption_zscore_against_earlier_fills() -> None:
    probe = Probe("consumption_zscore(event.vehicle_id)", on="fuel_purchase")
    day = 86400
    fills = [(None, 10000), (40, 10500), (35, 11000), (45, 11500), (40, 12000), (30, 12500)]
    values = probe.run(*[fill(day * i, liters, odo) for i, (liters, odo) in enumerate(fills)])
    # consumptions 8, 7, 9, 8, 6 l/100 km; the first fill has none, the next four lack history
    assert values == [None] * 6
    # 60 l over 500 km = 12 l/100 km against mean 7.6, sample std sqrt(1.3)
    assert probe.one(fill(day * 6, 60, 13000)) == pytest.approx((12 - 7.6) / math.sqrt(1.3))  # 3.859


def test_consumption_nulls() -> None:
    probe = Probe("consumption_zscore(event.vehicle_id)", on="fuel_purchase")
    probe.run(*[fill(60 * i, 40, 10000 + 500 * i) for i in range(7)])  # 8 l/100 km every time
    assert probe.one(fill(600, 50, 13500)) is None  # no spread in the history
    assert probe.one(fill(660, 50, 13500)) is None  # the odometer did not advance
    assert probe.one(fill(720, 50, None)) is None
    assert probe.one(fill(780, None, 14000)) is None
    assert probe.one(fill(840, 40, 14500, vehicle=None)) is None
    assert consumption(40, 10500, 10000) == 8.0 and consumption(40, 10000, 10000) is None


def test_consumption_late_fill_uses_the_fill_before_it() -> None:
    probe = Probe("consumption_zscore(event.vehicle_id)", on="fuel_purchase")
    fills = [(None, 10000), (40, 10500), (35, 11000), (45, 11500), (40, 12000), (30, 12500)]
    probe.run(*[fill(3600 * i, liters, odo) for i, (liters, odo) in enumerate(fills)])
    probe.run(fill(3600 * 10, 100, 13000))  # 20 l/100 km, later in event time
    # between the fills at 5h (12500 km) and 10h: 12 l/100 km against the five before it
    assert probe.one(fill(3600 * 6, 30, 12750)) == pytest.approx((12 - 7.6) / math.sqrt(1.3))


def test_consumption_diagnostics() -> None:
    assert "'consumption_zscore' cannot serve payment events" in pack_error(
        "consumption_zscore(event.card_id) > 3"
    )


# ---- off_hours


def test_default_schedule_is_monday_to_friday_six_to_eight_utc() -> None:
    probe = Probe("off_hours()", on="fuel_purchase")
    times = [
        utc(2026, 1, 1, 12),  # Thursday noon
        utc(2026, 1, 1, 5, 59),
        utc(2026, 1, 1, 6, 0),  # start included
        utc(2026, 1, 1, 20, 0),  # end excluded
        utc(2026, 1, 3, 12),  # Saturday
        utc(2026, 1, 5, 6, 0),  # Monday
    ]
    assert probe.run(*[fuel(t) for t in times]) == [False, True, False, True, True, False]


def test_named_schedule_in_a_time_zone() -> None:
    probe = Probe('off_hours(schedule: "berlin")', on="fuel_purchase")
    probe.ref("schedules", id="berlin", days=[0, 1, 2, 3, 4], start="08:00", end="17:00", tz="Europe/Berlin")
    # 07:30 UTC is 08:30 in Berlin (CET, UTC+1); 16:30 UTC is 17:30
    assert probe.run(fuel(utc(2026, 1, 2, 7, 30)), fuel(utc(2026, 1, 2, 16, 30))) == [False, True]
    # in summer (CEST, UTC+2) 06:30 UTC is already 08:30
    assert probe.one(fuel(utc(2026, 7, 1, 6, 30))) is False


def test_overnight_schedule_ends_the_next_day() -> None:
    probe = Probe('off_hours(schedule: "night")', on="fuel_purchase")
    probe.ref("schedules", id="night", days=["mon"], start="22:00", end="06:00")
    times = [
        utc(2026, 1, 5, 23),  # Monday 23:00: on shift
        utc(2026, 1, 6, 5),  # Tuesday 05:00: the Monday shift
        utc(2026, 1, 6, 23),  # Tuesday 23:00: no Tuesday shift
        utc(2026, 1, 5, 5),  # Monday 05:00: no Sunday shift
    ]
    assert probe.run(*[fuel(t) for t in times]) == [False, False, True, True]


def test_unknown_or_malformed_schedules_give_null_and_records_can_change() -> None:
    probe = Probe('off_hours(schedule: "shift_b")', on="fuel_purchase")
    assert probe.one(fuel(0)) is None
    probe.ref("schedules", id="shift_b", days=[0], start="25:00", end="06:00")
    assert probe.one(fuel(0)) is None
    probe.ref("schedules", id="shift_b", days=[3], start="11:00", end="13:00")  # Thursdays
    assert probe.one(fuel(0)) is False
    default = Probe("off_hours()", on="fuel_purchase")
    default.ref("schedules", id="default", days=[5, 6], start="00:00", end="24:00")  # weekends only
    assert default.run(fuel(utc(2026, 1, 1, 12)), fuel(utc(2026, 1, 3, 23, 59))) == [True, False]


def test_working_helper_and_default() -> None:
    monday_noon = dt.datetime(2026, 1, 5, 12, tzinfo=dt.UTC).timestamp()
    assert working(DEFAULT_SCHEDULE, monday_noon)
    assert not working(Schedule("s", [1], "09:00", "10:00"), monday_noon)


def test_off_hours_diagnostics() -> None:
    assert "'schedule' must be string, not number" in pack_error("off_hours(schedule: 3)")
    assert "'schedule' must be a constant" in pack_error("off_hours(schedule: event.card_id)")
