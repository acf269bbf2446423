"""travel_kmh and impossible_travel: hand-worked speeds and their edges."""

from __future__ import annotations

import math

import pytest
from test_detectors_harness import Probe, compiles, ev, pack_error

from engine.detectors.travel import GeoTrail, speed_kmh

#: one degree of longitude on the equator, km (mean Earth radius 6371.0088 km)
DEGREE_KM = 6371.0088 * math.pi / 180  # 111.19508


def login(at: float, lon: float | None, lat: float = 0.0, user: str | None = "u1") -> object:
    geo = None if lon is None else {"lat": lat, "lon": lon}
    return ev("login", at, user_id=user, geo=geo)


def test_speed_from_the_previous_geolocated_event() -> None:
    probe = Probe("travel_kmh(event.user_id)", on="login")
    values = probe.run(login(0, 0.0), login(1800, 1.0), login(3600, 1.0))
    assert values[0] is None  # first geolocated event
    assert values[1] == pytest.approx(DEGREE_KM * 2)  # 1 degree in half an hour: 222.39 km/h
    assert values[2] == 0.0


def test_events_without_geo_are_skipped_not_recorded() -> None:
    probe = Probe("travel_kmh(event.user_id)", on="login")
    values = probe.run(login(0, 0.0), login(600, None), login(3600, 1.0), login(3700, 2.0, user=None))
    assert values[1] is None  # no position of its own
    assert values[2] == pytest.approx(DEGREE_KM)  # measured from t=0, the last geolocated event
    assert values[3] is None  # null key


def test_late_event_is_measured_from_the_event_before_it() -> None:
    probe = Probe("travel_kmh(event.user_id)", on="login")
    probe.run(login(0, 0.0), login(3600, 2.0))
    assert probe.one(login(1800, 1.0)) == pytest.approx(DEGREE_KM * 2)  # from t=0, not t=3600
    assert probe.one(login(-100, 1.0)) is None  # nothing happened before it


def test_events_in_the_same_second_count_as_a_second_apart() -> None:
    probe = Probe("travel_kmh(event.user_id)", on="login")
    probe.run(login(0, 0.0))
    assert probe.one(login(0, 1.0)) == pytest.approx(DEGREE_KM * 3600)
    assert speed_kmh(0, 0, 0, 0.25, 0, 0) == 0.0


def test_impossible_travel_default_and_custom_limit() -> None:
    probe = Probe("impossible_travel(event.user_id)", on="login")
    paris, sydney = {"lat": 48.85, "lon": 2.35}, {"lat": -33.87, "lon": 151.21}
    assert probe.run(ev("login", 0, user_id="u1", geo=paris), ev("login", 600, user_id="u1", geo=sydney)) == [
        None,
        True,
    ]
    assert probe.one(ev("login", 600 + 24 * 3600, user_id="u1", geo=paris)) is False  # 704 km/h
    limit = Probe("impossible_travel(event.user_id, max_kmh: 111)", on="login")
    assert limit.run(login(0, 0.0), login(3600, 1.0)) == [None, True]  # 111.195 > 111
    limit112 = Probe("impossible_travel(event.user_id, max_kmh: 112)", on="login")
    assert limit112.run(login(0, 0.0), login(3600, 1.0)) == [None, False]


def test_trail_keeps_recent_positions_and_the_newest() -> None:
    trail = GeoTrail(retention=1e9)
    for i in range(10):
        trail.observe("k", i * 86400.0, 0.0, float(i))
    kept = trail.entities["k"].times
    assert kept[-1] == 9 * 86400.0 and len(kept) <= 4
    assert trail.previous("k", 9 * 86400.0 + 5) == (9 * 86400.0, 0.0, 9.0)


def test_travel_diagnostics_and_narrowing() -> None:
    assert "cannot serve session_activity events" in pack_error(
        "impossible_travel(event.user_id)", on="login, session_activity"
    )
    assert compiles(
        'event.kind == "login" and impossible_travel(event.user_id)', on="login, session_activity"
    )
    assert "'max_kmh' must be number, not string" in pack_error(
        'impossible_travel(event.user_id, max_kmh: "fast")', on="login"
    )
    assert "'max_kmh' must be a constant" in pack_error(
        "impossible_travel(event.user_id, max_kmh: event.geo.lat)", on="login"
    )
    assert "travel_kmh() takes at most 1 argument" in pack_error(
        "travel_kmh(event.user_id, 5) > 1", on="login"
    )
