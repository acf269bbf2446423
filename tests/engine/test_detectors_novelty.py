"""new_value, entity_age and hour_rarity: hand-worked values and their edges."""

from __future__ import annotations

import random

import pytest
from test_detectors_harness import DAY, Probe, ev, pack_error

from engine.detectors.novelty import (
    NewValue,
    SightingLog,
    add_sighting,
    age,
    hour_of,
    rarity,
    seen_within,
)


def login(at: float, user: str | None = "u1", device: str | None = "d1", **fields: object) -> object:
    return ev("login", at, user_id=user, device_id=device, **fields)


# ---- new_value


def test_new_value_first_event_then_known_then_another_value() -> None:
    probe = Probe("new_value(event.user_id, event.device_id)", on="login")
    values = probe.run(login(0), login(60), login(120, device="d2"), login(180, device="d2"))
    assert values == [True, False, True, False]


def test_new_value_within_boundary() -> None:
    probe = Probe("new_value(event.user_id, event.device_id)", on="login")  # within: 90d
    probe.run(login(0))
    assert probe.one(login(90 * DAY - 1)) is False
    probe2 = Probe("new_value(event.user_id, event.device_id, within: 90d)", on="login")
    probe2.run(login(0))
    assert probe2.one(login(90 * DAY)) is True  # seen exactly 90d ago: too old


def test_new_value_short_within_and_separate_keys() -> None:
    probe = Probe("new_value(event.user_id, event.device_id, within: 1h)", on="login")
    assert probe.run(login(0), login(1800), login(1800 + 3600), login(1900, user="u2")) == [
        True,
        False,
        True,  # the last sighting (1800) is exactly 1h before
        True,  # u2 never used d1
    ]


def test_new_value_null_key_or_value() -> None:
    probe = Probe("new_value(event.user_id, event.device_id)", on="login")
    assert probe.run(login(0, user=None), login(60, device=None)) == [None, None]
    assert probe.one(login(120)) is True  # nothing was recorded for the null ones


def test_new_value_late_event_is_new_when_its_value_was_only_seen_later() -> None:
    probe = Probe("new_value(event.user_id, event.device_id)", on="login")
    probe.run(login(1000))
    assert probe.one(login(500)) is True
    assert probe.one(login(700)) is False  # the late sighting at 500 now counts


def test_sighting_thinning_never_changes_an_answer() -> None:
    rng = random.Random(11)
    within = 100.0
    for _ in range(200):
        times: list[float] = []
        kept: list[float] = []
        for _ in range(rng.randint(1, 25)):
            t = float(rng.randint(0, 100))  # all within one window span, arriving in any order
            if kept:
                add_sighting(kept, t, within)
            else:
                kept.append(t)
            times.append(t)
            for q in range(-5, 210, 7):
                truth = any(q - within < s <= q for s in times)
                assert seen_within(kept, float(q), within) == truth
        assert len(kept) <= 3


def test_new_value_family_prunes_old_values() -> None:
    state = SightingLog(retention=10.0)
    for i in range(70):
        state.observe("k", float(i), f"v{i}")
    # values not seen for two windows are forgotten once the key holds many
    assert len(state.entities["k"].seen) < 70
    assert NewValue.query(state, {"within": 10.0}, "k", 69.5, "v69") is False
    assert NewValue.query(state, {"within": 10.0}, "k", 69.5, "v0") is True


# ---- entity_age


def test_entity_age_from_the_first_event() -> None:
    probe = Probe("entity_age(event.user_id)", on="login")
    assert probe.run(login(0), login(3600), login(2 * DAY)) == [0.0, 3600.0, 2 * DAY]


def test_entity_age_late_event_before_the_first_is_the_first() -> None:
    probe = Probe("entity_age(event.user_id)", on="login")
    probe.run(login(1000))
    assert probe.one(login(400)) == 0.0
    assert probe.one(login(1000)) == 600.0  # now measured from 400
    assert probe.one(login(500, user=None)) is None


def test_entity_age_is_a_duration_in_rules() -> None:
    probe = Probe("", on="login", condition="entity_age(event.user_id) < 1d")
    decisions = probe.engine.evaluate_many([login(0), login(DAY - 1), login(DAY)])
    assert [len(d.hits) for d in decisions] == [1, 1, 0]
    assert decisions[1].hits[0].explanation == ("entity_age(event.user_id) = 86399s < 1d",)
    assert "cannot compare duration with number" in pack_error("entity_age(event.user_id) < 5", on="login")
    assert age(None, 5.0) == 0.0 and age(2.0, 5.0) == 3.0


# ---- hour_rarity


def at_hour(day: int, hour: int, minute: int = 0) -> float:
    """Offset from T0 (12:00 UTC) of a given day and UTC time."""
    return day * DAY + (hour - 12) * 3600 + minute * 60


def test_hour_rarity_needs_twenty_earlier_events() -> None:
    probe = Probe("hour_rarity(event.card_id)")
    values = probe.run(*[ev("payment", at_hour(d, 10), card_id="c1") for d in range(21)])
    assert values[:20] == [None] * 20
    assert values[20] == 0.0  # all 20 earlier events were at 10h UTC


def test_hour_rarity_shares() -> None:
    probe = Probe("hour_rarity(event.card_id)")
    history = [ev("payment", at_hour(d, 10, 30), card_id="c1") for d in range(15)]
    history += [ev("payment", at_hour(15 + d, 22), card_id="c1") for d in range(5)]
    probe.run(*history)
    assert probe.one(ev("payment", at_hour(30, 3), card_id="c1")) == 1.0  # never at 3h
    assert probe.one(ev("payment", at_hour(31, 22, 59), card_id="c1")) == pytest.approx(1 - 5 / 21)
    assert probe.one(ev("payment", at_hour(32, 10), card_id="c1")) == pytest.approx(1 - 15 / 22)


def test_hour_rarity_late_event_leaves_out_later_events() -> None:
    probe = Probe("hour_rarity(event.card_id)")
    probe.run(*[ev("payment", at_hour(0, 10) + 60 * i, card_id="c1") for i in range(20)])
    probe.run(*[ev("payment", at_hour(0, 11) + 60 * i, card_id="c1") for i in range(5)])
    # at 10:30 only the twenty 10h events (10:00..10:19) came before it
    assert probe.one(ev("payment", at_hour(0, 10, 30), card_id="c1")) == 0.0
    # a query at 12h sees 21 at 10h and 5 at 11h
    assert probe.one(ev("payment", at_hour(0, 12), card_id="c1")) == 1.0
    assert probe.one(ev("payment", at_hour(0, 12, 1), card_id=None)) is None


def test_hour_helpers() -> None:
    assert hour_of(0.0) == 0 and hour_of(3600 * 25 + 1) == 1
    assert rarity(5, 20) == 0.75 and rarity(5, 19) is None
