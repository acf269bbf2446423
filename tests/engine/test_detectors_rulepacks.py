"""The shipped packs and their detectors: coverage, and the label-driven rules inline tests cannot reach."""

from __future__ import annotations

from pathlib import Path

from test_detectors_harness import DAY, ev, ts

from engine.engine import Engine
from engine.pack import load_pack_file

RULEPACKS = Path(__file__).resolve().parents[2] / "rulepacks"


def test_shipped_packs_use_at_least_fifteen_detectors() -> None:
    used: set[str] = set()
    for path in sorted(RULEPACKS.glob("*.rules")):
        pack = load_pack_file(path)
        used |= {call.func for call in pack.generated.detector_calls}
    assert len(used) >= 15, sorted(used)


def test_risky_terminal_fires_on_labelled_fraud_a_week_back() -> None:
    engine = Engine([load_pack_file(RULEPACKS / "cards.rules")])
    history = [
        ev("payment", d * DAY, id=f"p{d}", card_id=f"c{d}", terminal_id="t9", amount=30.0) for d in range(4)
    ]
    engine.evaluate_many(history)
    engine.context.set_label("p1", True, ts(3 * DAY))
    quiet = engine.evaluate(ev("payment", 9.5 * DAY, card_id="c8", terminal_id="t9", amount=30.0))
    assert quiet.outcome == "approve" and [h.rule for h in quiet.hits] == ["risky_terminal"]
    assert quiet.hits[0].explanation[0].startswith("entity_risk(event.terminal_id, 7d, delay: 7d) = 0.333")
    # a label known only later is not used for an earlier decision
    engine.context.set_label("p2", True, ts(30 * DAY))
    again = engine.evaluate(ev("payment", 9.6 * DAY, card_id="c9", terminal_id="t9", amount=30.0))
    assert again.hits[0].explanation[0].startswith("entity_risk(event.terminal_id, 7d, delay: 7d) = 0.333")


def test_fraud_hotspot_station_counts_confirmed_cases_nearby() -> None:
    engine = Engine([load_pack_file(RULEPACKS / "fleet_fuel.rules")])
    station = {"lat": 48.1400, "lon": 11.5800}
    nearby = {"lat": 48.1440, "lon": 11.5800}  # 0.44 km north
    fills = [
        ev(
            "fuel_purchase",
            i * 3600,
            id=f"f{i}",
            card_id=f"fc{i}",
            vehicle_id=f"v{i}",
            liters=30.0,
            amount=54.0,
            geo=geo,
        )
        for i, geo in enumerate([station, nearby, station])
    ]
    engine.evaluate_many(fills)
    engine.context.set_label("f0", True, ts(DAY))
    engine.context.set_label("f1", True, ts(DAY))
    engine.context.set_label("f2", False, ts(DAY))
    fill = {"card_id": "fc9", "vehicle_id": "v9", "liters": 30.0, "amount": 54.0, "geo": station}
    before = engine.evaluate(ev("fuel_purchase", DAY / 2, **fill))
    assert before.hits == ()
    after = engine.evaluate(ev("fuel_purchase", 2 * DAY, **fill))
    assert [h.rule for h in after.hits] == ["fraud_hotspot_station"]
    assert after.hits[0].explanation == ("hotspot(radius_km: 1, w: 30d) = 2 >= 2",)
