"""entity_risk and hotspot: labels known only from their time on, windows shifted by the delay."""

from __future__ import annotations

import math

import pytest
from test_detectors_harness import DAY, Probe, ev, pack_error, ts

from engine.detectors.labels import (
    EntityRisk,
    FraudMap,
    Hotspot,
    LabelledLog,
    cells_around,
    count_cases,
    risk_share,
)
from engine.engine import EngineContext

KM_PER_DEGREE = 6371.0088 * math.pi / 180


def tx(event_id: str, day: float, terminal: str | None = "T1", **fields: object) -> object:
    return ev("payment", day * DAY, id=event_id, terminal_id=terminal, **fields)


# ---- entity_risk


def labelled_terminal() -> Probe:
    probe = Probe("entity_risk(event.terminal_id, 7d, delay: 7d)")
    assert probe.run(*[tx(f"e{d}", d) for d in range(4)]) == [None] * 4  # nothing before the delay yet
    probe.label("e1", True, 5 * DAY)
    probe.label("e2", False, 5 * DAY)
    probe.label("e3", True, 12 * DAY)
    return probe


def test_share_of_labelled_fraud_in_the_delayed_window() -> None:
    probe = labelled_terminal()
    # (9.5 - 14, 9.5 - 7] = (-4.5, 2.5]: e0, e1, e2; e1 is fraud and known since day 5
    assert probe.one(tx("q1", 9.5)) == pytest.approx(1 / 3)
    # (-4, 3]: e0..e3; e3's label is only known on day 12
    assert probe.one(tx("q2", 10)) == pytest.approx(1 / 4)


def test_window_edges_and_labels_becoming_known() -> None:
    probe = labelled_terminal()
    # (-6, 1]: e1 sits exactly on the upper edge and counts
    assert probe.one(tx("q1", 8)) == pytest.approx(1 / 2)
    # (2, 9] on day 16: e2 sits exactly on the lower edge and is out; e3 (known since day 12) and q1
    assert probe.one(tx("q2", 16)) == pytest.approx(1 / 2)


def test_late_event_and_a_key_without_events_in_the_window() -> None:
    probe = labelled_terminal()
    probe.run(tx("q1", 11.5))
    # half a day late: (-3, 4] on day 11 holds e0..e3 but not q1; e3's label is not known at day 11
    assert probe.one(tx("q2", 11)) == pytest.approx(1 / 4)
    assert probe.one(tx("q3", 40)) is None  # (26, 33]: nothing
    assert probe.one(tx("q4", 10, terminal="T2")) is None
    assert probe.one(tx("q5", 10, terminal=None)) is None


def test_labels_set_before_the_event_and_relabelled_events() -> None:
    probe = Probe("entity_risk(event.terminal_id, 7d, delay: 7d)")
    probe.label("e0", True, 1 * DAY)  # known before the engine saw e0
    probe.run(tx("e0", 0), tx("e1", 1))
    assert probe.one(tx("q1", 9)) == pytest.approx(1 / 2)
    probe.label("e0", False, 9.5 * DAY)  # the disposition changed
    assert probe.one(tx("q2", 10)) == 0.0
    probe.label("e1", True, 10 * DAY)
    assert probe.one(tx("q3", 10)) == pytest.approx(1 / 2)


def test_no_delay_counts_up_to_the_event_itself_excluded() -> None:
    probe = Probe("entity_risk(event.terminal_id, 1h, delay: 0s)")
    probe.run(tx("a", 0))
    probe.label("a", True, 0)
    assert probe.one(tx("b", 0.01)) == 1.0
    assert probe.one(tx("c", 0.02)) == pytest.approx(1 / 2)


def test_entity_risk_directly_on_the_family() -> None:
    state = LabelledLog(retention=100.0)
    state.context = EngineContext()
    for i in range(5):
        state.observe("k", float(i * 10), f"x{i}")
    state.context.set_label("x1", True, 15.0)
    state.context.set_label("x3", True, 100.0)
    consts = {"w": 40.0, "delay": 0.0}
    assert EntityRisk.query(state, consts, "k", 45.0, "q") == pytest.approx(1 / 4)  # x1..x4; x3 not known
    assert EntityRisk.query(state, consts, "k", 100.0, "q") is None  # (60, 100]: nothing
    # the bookkeeping drops events no window reaches
    for i in range(5, 40):
        state.observe("k", float(i * 10), f"x{i}")
    assert "x0" not in state.where and "x39" in state.where
    assert risk_share([1.0, 2.0, 2.5], [(2.0, 0.0, "b")], 3.0, 2.0, 0.0) == 0.5  # (1, 3]: 2 and 2.5


def test_entity_risk_diagnostics() -> None:
    assert "entity_risk() needs 2 arguments; missing w" in pack_error("entity_risk(event.terminal_id) > 0.5")
    assert "'w' must be greater than 0" in pack_error("entity_risk(event.terminal_id, 0s) > 0.5")
    assert "'delay' must be a constant" in pack_error("entity_risk(event.terminal_id, 7d, delay: -1d) > 0.5")


# ---- hotspot


def at(event_id: str, t: float, lon: float | None, lat: float = 0.0) -> object:
    return ev("payment", t, id=event_id, geo=None if lon is None else {"lat": lat, "lon": lon})


def fraud_map(expr: str) -> Probe:
    probe = Probe(expr)
    probe.run(at("f1", 0, 0.0), at("f2", 60, 0.005), at("f3", 120, 0.02), at("ok", 180, 0.001))
    for event_id in ("f1", "f2", "f3"):
        probe.label(event_id, True, 1000)
    probe.label("ok", False, 1000)
    return probe


def test_hotspot_counts_known_fraud_within_the_radius() -> None:
    probe = fraud_map("hotspot()")
    assert probe.one(at("q1", 500, 0.0)) == 0  # labels known only from t=1000
    # f1 at 0 km, f2 at 0.556 km; f3 at 2.22 km is outside 1 km
    assert probe.one(at("q2", 2000, 0.0)) == 2
    assert fraud_map("hotspot(radius_km: 3)").one(at("q", 2000, 0.0)) == 3


def test_hotspot_window_boundary_and_nulls() -> None:
    probe = fraud_map("hotspot(radius_km: 1, w: 1h)")
    assert probe.one(at("q1", 3600, 0.0)) == 1  # (0, 3600]: f1 at 0 is out
    assert probe.one(at("q2", 3660, 0.0)) == 0
    assert probe.one(at("q3", 3000, None)) is None


def test_hotspot_relabel_late_and_across_the_antimeridian() -> None:
    probe = fraud_map("hotspot()")
    probe.label("f2", False, 1500)
    assert probe.one(at("q1", 2000, 0.0)) == 1
    assert probe.one(at("q2", 30, 0.0)) == 0  # late: only f1 had happened, its label not yet known
    east = Probe("hotspot()")
    east.run(at("g", 0, 179.999))
    east.label("g", True, 0)
    assert east.one(at("h", 60, -179.999)) == 1  # 0.22 km across the date line


def test_hotspot_helpers() -> None:
    cells = cells_around(0.0, 0.0, 1.0)
    assert cells is not None and len(cells) == 4  # the point is on a cell corner
    assert cells_around(89.99, 0.0, 50.0) is None  # the circle spans every longitude
    assert (
        count_cases([(10.0, 0.0, 0.0, 0.0, "a"), (5.0, 20.0, 0.0, 0.0, "b")], 15.0, 10.0, 0.0, 0.0, 1.0) == 1
    )
    state = FraudMap(retention=50.0)
    state.context = EngineContext()
    state.context.set_label("p", True, 0.0)
    state.observe(None, 0.0, "p", 10.0, 10.0)
    assert Hotspot.query(state, {"radius_km": 5000, "w": 50.0}, None, 1.0, "q", 0.0, 0.0) == 1
    state.observe(None, 100.0, "r", 0.0, 0.0)
    assert "p" not in state.where and state.entity_count() == 1
    assert ts(0) > 0


def test_hotspot_diagnostics() -> None:
    assert "'hotspot' cannot serve session_activity events" in pack_error(
        "hotspot() > 2", on="session_activity"
    )
    assert "'radius_km' must be greater than 0" in pack_error("hotspot(radius_km: 0) > 2")
