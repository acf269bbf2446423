"""bot_score and keystroke_deviation: hand-worked scores and their edges."""

from __future__ import annotations

import math

import pytest
from test_detectors_harness import Probe, compiles, ev, pack_error

from engine.detectors.behaviour import bot_score, cadence, cadence_sign, fill_sign, pointer_sign, ramp


def session(at: float, user: str | None = "u1", **fields: object) -> object:
    return ev("session_activity", at, user_id=user, **fields)


# ---- bot_score


def test_bot_score_of_a_script_and_of_a_person() -> None:
    assert bot_score([50.0] * 6, 400.0, 0) == 1.0
    # intervals vary a lot (CV 0.6) at a human pace, slow fill, many pointer moves
    assert bot_score([120.0, 340.0, 95.0], 5400.0, 42) == 0.0


def test_bot_score_weights_and_ramps() -> None:
    # mean 100, population std 17.5: CV 0.175 is half-way down the 0.05..0.30 ramp
    assert cadence([82.5, 117.5, 82.5, 117.5]) == pytest.approx((100.0, 17.5))
    assert cadence_sign([82.5, 117.5, 82.5, 117.5]) == pytest.approx(0.5)
    # form fill 2000 ms: half-way down 1000..3000; two pointer moves: 1 - 2/5
    assert fill_sign(2000.0) == pytest.approx(0.5)
    assert pointer_sign(2) == pytest.approx(0.6)
    assert bot_score([82.5, 117.5, 82.5, 117.5], 2000.0, 2) == pytest.approx(
        0.4 * 0.5 + 0.3 * 0.5 + 0.3 * 0.6
    )


def test_bot_score_missing_signs_add_nothing() -> None:
    assert bot_score(None, 2000.0, 2) == pytest.approx(0.3 * 0.5 + 0.3 * 0.6)
    assert bot_score([10.0, 10.0], None, 0) == pytest.approx(0.3)  # two intervals say nothing
    assert bot_score(None, None, None) is None


def test_bot_score_inhumanly_fast_typing_even_when_irregular() -> None:
    assert cadence_sign([5.0, 30.0, 10.0, 35.0]) == 1.0  # mean 20 ms
    assert cadence_sign([0.0, 0.0, 0.0]) == 1.0
    assert ramp(42.5, 25.0, 60.0) == pytest.approx(0.5)


def test_bot_score_in_a_pack_with_narrowing() -> None:
    probe = Probe(
        "", on="login, session_activity", condition='event.kind == "session_activity" and bot_score() > 0.9'
    )
    decisions = probe.engine.evaluate_many(
        [
            session(0, keystroke_intervals_ms=[50.0] * 8, form_fill_ms=300.0, pointer_moves=0),
            session(60, keystroke_intervals_ms=[120.0, 340.0, 95.0], form_fill_ms=5400.0, pointer_moves=42),
            ev("login", 120, user_id="u1"),
        ]
    )
    assert [len(d.hits) for d in decisions] == [1, 0, 0]
    assert probe.log == [1.0, 0.0]  # never called for the login


def test_bot_score_diagnostics() -> None:
    assert "'bot_score' cannot serve login events (only session_activity)" in pack_error(
        "bot_score() > 0.9", on="login"
    )
    assert "bot_score() takes at most 0 arguments" in pack_error(
        "bot_score(event.user_id) > 0.9", on="session_activity"
    )
    assert compiles("bot_score() > 0.9", on="session_activity")


# ---- keystroke_deviation


def typing(mean: float, spread: float) -> list[float]:
    """Intervals whose mean and population standard deviation are exactly these."""
    return [mean - spread, mean + spread, mean - spread, mean + spread]


def test_keystroke_deviation_against_five_earlier_sessions() -> None:
    probe = Probe("keystroke_deviation(event.user_id)", on="session_activity")
    # means 100..140 and spreads 10..50: each feature has mean (120, 30) and sample std sqrt(250)
    history = [session(60 * i, keystroke_intervals_ms=typing(100 + 10 * i, 10 + 10 * i)) for i in range(5)]
    assert probe.run(*history) == [None] * 5
    std = math.sqrt(250)
    # two standard deviations off on both features: RMS 2
    assert probe.one(
        session(600, keystroke_intervals_ms=typing(120 + 2 * std, 30 + 2 * std))
    ) == pytest.approx(2.0)


def test_keystroke_deviation_rms_of_the_two_features() -> None:
    probe = Probe("keystroke_deviation(event.user_id)", on="session_activity")
    probe.run(*[session(60 * i, keystroke_intervals_ms=typing(100 + 10 * i, 10 + 10 * i)) for i in range(5)])
    std = math.sqrt(250)
    # 2 std off on the mean, on the profile's spread exactly: sqrt((4 + 0) / 2)
    assert probe.one(session(600, keystroke_intervals_ms=typing(120 + 2 * std, 30.0))) == pytest.approx(
        math.sqrt(2)
    )


def test_keystroke_deviation_nulls() -> None:
    probe = Probe("keystroke_deviation(event.user_id)", on="session_activity")
    probe.run(*[session(60 * i, keystroke_intervals_ms=typing(100 + 10 * i, 10 + 10 * i)) for i in range(4)])
    assert probe.one(session(300, keystroke_intervals_ms=typing(110, 20))) is None  # 4 earlier sessions
    assert probe.one(session(400, keystroke_intervals_ms=[100.0, 120.0])) is None  # too few intervals
    assert probe.one(session(500, keystroke_intervals_ms=None)) is None
    assert probe.one(session(600, user=None, keystroke_intervals_ms=typing(110, 20))) is None
    # the sessions without a cadence were not recorded: 5 earlier now (4 + the one at 300)
    assert probe.one(session(700, keystroke_intervals_ms=typing(110, 20))) is not None


def test_keystroke_deviation_with_a_constant_profile_is_null() -> None:
    probe = Probe("keystroke_deviation(event.user_id)", on="session_activity")
    probe.run(*[session(60 * i, keystroke_intervals_ms=typing(100, 10)) for i in range(5)])
    assert probe.one(session(600, keystroke_intervals_ms=typing(150, 10))) is None


def test_keystroke_deviation_late_session_sees_earlier_sessions_only() -> None:
    probe = Probe("keystroke_deviation(event.user_id)", on="session_activity")
    probe.run(*[session(60 * i, keystroke_intervals_ms=typing(100 + 10 * i, 10 + 10 * i)) for i in range(5)])
    probe.run(session(3600, keystroke_intervals_ms=typing(500, 200)))
    std = math.sqrt(250)
    late = session(1200, keystroke_intervals_ms=typing(120 + 2 * std, 30 + 2 * std))
    assert probe.one(late) == pytest.approx(2.0)
