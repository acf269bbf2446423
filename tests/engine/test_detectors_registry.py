"""The detector registry against the detector list: names, parameters, defaults, kinds; bounded state."""

from __future__ import annotations

from typing import Any

import pytest
from test_detectors_harness import DAY, ev

from engine.detectors import DETECTORS, default_registry
from engine.detectors.common import HISTORY_TTL, Keyed
from engine.detectors.novelty import FirstSeen
from engine.engine import Engine
from engine.pack import load_pack

M, H, D = 60.0, 3600.0, 86400.0
REQUIRED = object()

#: DETECTORS.md: name -> [(parameter, default or REQUIRED)], in order
SIGNATURES: dict[str, list[tuple[str, Any]]] = {
    "velocity": [("key", REQUIRED), ("w", REQUIRED)],
    "sum_amount": [("key", REQUIRED), ("w", REQUIRED)],
    "distinct": [("key", REQUIRED), ("value", REQUIRED), ("w", REQUIRED)],
    "amount_zscore": [("key", REQUIRED)],
    "new_value": [("key", REQUIRED), ("value", REQUIRED), ("within", 90 * D)],
    "travel_kmh": [("key", REQUIRED)],
    "impossible_travel": [("key", REQUIRED), ("max_kmh", 900)],
    "entity_age": [("key", REQUIRED)],
    "card_testing": [("key", REQUIRED), ("w", 10 * M), ("max_amount", 2.0)],
    "structuring": [("key", REQUIRED), ("threshold", 10000), ("margin", 0.1), ("w", 24 * H)],
    "duplicate": [("key", REQUIRED), ("w", 10 * M)],
    "entity_risk": [("key", REQUIRED), ("w", REQUIRED), ("delay", 7 * D)],
    "ring_size": [("key", REQUIRED)],
    "hour_rarity": [("key", REQUIRED)],
    "bot_score": [],
    "keystroke_deviation": [("key", REQUIRED)],
    "over_tank_capacity": [],
    "fuel_far_from_vehicle": [("max_age", 30 * M)],
    "consumption_zscore": [("vehicle", REQUIRED)],
    "off_hours": [("schedule", "default")],
    "hotspot": [("radius_km", 1), ("w", 30 * D)],
}
RETURNS = {
    "new_value": "boolean",
    "impossible_travel": "boolean",
    "duplicate": "boolean",
    "over_tank_capacity": "boolean",
    "off_hours": "boolean",
    "entity_age": "duration",
}
ONLY = {
    "bot_score": {"session_activity"},
    "keystroke_deviation": {"session_activity"},
    "over_tank_capacity": {"fuel_purchase"},
    "fuel_far_from_vehicle": {"fuel_purchase"},
    "consumption_zscore": {"fuel_purchase"},
}


def test_all_21_detectors_in_the_documented_order() -> None:
    assert [d.sig.name for d in DETECTORS] == list(SIGNATURES)
    assert default_registry().names() == list(SIGNATURES)


@pytest.mark.parametrize("name", list(SIGNATURES))
def test_signature(name: str) -> None:
    detector = default_registry().get(name)
    assert detector is not None and detector.sig.stateful
    params = [(p.name, REQUIRED if p.required else p.default) for p in detector.sig.params]
    assert params == SIGNATURES[name]
    assert str(detector.sig.returns) == RETURNS.get(name, "number")
    dynamic = tuple(p.name for p in detector.sig.params if not p.const)
    assert dynamic == detector.dynamic
    if name in ONLY:
        assert detector.sig.kinds == ONLY[name]
    # retention: the window where there is one, the history horizon otherwise, never negative
    consts = {p.name: p.default for p in detector.sig.params if p.const and not p.required}
    consts.setdefault("w", 3600.0)
    assert detector.retention(consts) >= 0.0


ALL_PAYMENT = """pack everything 1.0.0 "every payment detector"
on payment
rule r1 when amount_zscore(event.card_id) > 3 score 1
rule r2 when new_value(event.card_id, event.merchant_id) score 1
rule r3 when travel_kmh(event.card_id) > 100 or impossible_travel(event.card_id) score 1
rule r4 when entity_age(event.card_id) < 1d score 1
rule r5 when card_testing(event.card_id) >= 3 or structuring(event.card_id) >= 2 score 1
rule r6 when duplicate([event.card_id, event.merchant_id, event.amount]) score 1
rule r7 when entity_risk(event.terminal_id, 7d) > 0.5 or hotspot(radius_km: 2) > 0 score 1
rule r8 when ring_size(event.user_id) > 2 or hour_rarity(event.card_id) > 0.9 score 1
rule r9 when off_hours() or velocity(event.card_id, 1h) > 5 score 1
outcome
  review when score >= 4
  approve
"""


def test_a_pack_with_every_payment_detector_runs_and_keeps_state_bounded() -> None:
    from engine.simulate import simulate

    engine = Engine([load_pack(ALL_PAYMENT)])
    events = list(simulate("payment", 3000, 5))
    for event in events[::10]:
        engine.context.set_label(event.id, bool(event.attributes.get("is_fraud")), event.timestamp)
    decisions = engine.evaluate_many(events)
    assert len(decisions) == len(events)
    assert {h.rule for d in decisions for h in d.hits} >= {"r1", "r2", "r4", "r6", "r8", "r9"}
    assert 0 < engine.store.entity_count() < 20 * len(events)


def test_idle_entities_are_forgotten_after_the_retention() -> None:
    state = FirstSeen(retention=HISTORY_TTL)
    for i in range(3000):
        state.observe(f"old{i}", 0.0)
    for i in range(3000):
        state.observe(f"new{i}", HISTORY_TTL + DAY + i)
    assert state.entity_count() < 4500
    assert all(key.startswith("new") for key in list(state.entities)[-100:])
    assert isinstance(state, Keyed)


def test_state_records_are_plain_serialisable_data() -> None:
    import msgspec

    from engine.detectors.amounts import AmountProfile

    state = AmountProfile(retention=HISTORY_TTL)
    state.observe("c1", 0.0, 10.0)
    state.observe("c1", 60.0, 20.0)
    encoded = msgspec.msgpack.encode(state.entities["c1"])
    assert msgspec.msgpack.decode(encoded, type=type(state.entities["c1"])) == state.entities["c1"]


def test_events_of_kinds_without_the_fields_compile_to_null_inputs() -> None:
    # ring_size on session_activity reads device_id only; card_id and ip are not in that kind
    pack = load_pack(
        'pack p 1.0.0 "p"\non session_activity\nrule r when ring_size(event.user_id) > 1 score 1\n'
        "outcome\n  approve\n"
    )
    engine = Engine([pack])
    d = engine.evaluate_many(
        [
            ev("session_activity", 0, user_id="u1", device_id="d1"),
            ev("session_activity", 60, user_id="u2", device_id="d1"),
        ]
    )
    assert [len(x.hits) for x in d] == [0, 1]
