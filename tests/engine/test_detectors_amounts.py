"""amount_zscore, card_testing, structuring and duplicate: hand-worked values and their edges."""

from __future__ import annotations

import math
import random
import statistics

import pytest
from test_detectors_harness import Probe, ev, pack_error

from engine.detectors.amounts import (
    AmountProfile,
    AmountZscore,
    count_in_band,
    count_small,
    structuring_band,
    zscore_of,
)
from engine.detectors.common import Moments, moments_add, moments_upto

# ---- amount_zscore


def pay(at: float, amount: float | None, card: str | None = "c1", **fields: object) -> object:
    return ev("payment", at, card_id=card, amount=amount, **fields)


def test_zscore_needs_five_earlier_amounts_then_uses_the_sample_std() -> None:
    probe = Probe("amount_zscore(event.card_id)")
    values = probe.run(*[pay(60 * i, a) for i, a in enumerate([10, 20, 30, 40, 50, 60])])
    # earlier amounts 10..50: mean 30, sample variance 1000 / 4 = 250
    assert values[:5] == [None] * 5
    assert values[5] == pytest.approx(30 / math.sqrt(250))  # 1.8974


def test_zscore_of_the_current_event_is_not_part_of_its_own_history() -> None:
    probe = Probe("amount_zscore(event.card_id)")
    probe.run(*[pay(60 * i, a) for i, a in enumerate([10, 20, 30, 40, 50])])
    # a second query at the same amount sees six earlier amounts: 10..50 and 1000
    assert probe.one(pay(400, 1000.0)) == pytest.approx((1000 - 30) / math.sqrt(250))
    earlier = [10, 20, 30, 40, 50, 1000]
    expected = (30 - statistics.mean(earlier)) / statistics.stdev(earlier)
    assert probe.one(pay(500, 30.0)) == pytest.approx(expected)


def test_zscore_is_null_when_earlier_amounts_do_not_vary() -> None:
    probe = Probe("amount_zscore(event.card_id)")
    probe.run(*[pay(60 * i, 0.1) for i in range(5)])  # 0.1 is not exact in binary
    assert probe.one(pay(600, 0.2)) is None


def test_zscore_null_key_null_amount_and_separate_keys() -> None:
    probe = Probe("amount_zscore(event.card_id)")
    probe.run(*[pay(60 * i, a) for i, a in enumerate([10, 20, 30, 40, 50])])
    assert probe.one(pay(400, None)) is None
    assert probe.one(pay(500, 60.0, card=None)) is None
    assert probe.one(pay(600, 60.0, card="other")) is None
    # the null-amount and null-card events were not recorded into c1's history
    assert probe.one(pay(700, 60.0)) == pytest.approx(30 / math.sqrt(250))


def test_zscore_late_event_sees_only_amounts_before_it() -> None:
    probe = Probe("amount_zscore(event.card_id)")
    probe.run(*[pay(60 * i, a) for i, a in enumerate([10, 20, 30, 40, 50])])  # t = 0..240
    probe.run(pay(3600, 100.0))
    # arrives after the 100 but happened before it: history is 10..50 only
    assert probe.one(pay(250, 60.0)) == pytest.approx(30 / math.sqrt(250))
    later = [10, 20, 30, 40, 50, 100, 60]
    assert probe.one(pay(7200, 60.0)) == pytest.approx(
        (60 - statistics.mean(later)) / statistics.stdev(later)
    )


def test_zscore_ties_recorded_earlier_count_as_earlier() -> None:
    probe = Probe("amount_zscore(event.card_id)")
    probe.run(*[pay(0, a) for a in [10, 20, 30, 40, 50]])
    assert probe.one(pay(0, 60.0)) == pytest.approx(30 / math.sqrt(250))


def test_moments_match_statistics_for_late_arrivals() -> None:
    rng = random.Random(3)
    for _ in range(30):
        events = [(rng.uniform(0, 50_000), rng.uniform(1, 500)) for _ in range(40)]
        m = Moments(events[0][0], events[0][1])
        seen: list[tuple[float, float]] = []
        for t, x in events:
            moments_add(m, t, x)
            seen.append((t, x))
            query = rng.uniform(0, 50_000)
            before = [v for s, v in seen if s <= query]
            n, mean, var = moments_upto(m, query)
            assert n == len(before)
            if n >= 2:
                assert mean == pytest.approx(statistics.mean(before))
                assert var == pytest.approx(statistics.variance(before))


def test_zscore_directly_on_the_family() -> None:
    state = AmountProfile(retention=1e9)
    for i, amount in enumerate([100.0, 100.0, 100.0, 100.0, 110.0]):
        state.observe("k", float(i), amount)
    consts: dict[str, object] = {}
    # mean 102, sample variance (4 * 4 + 64) / 4 = 20
    assert AmountZscore.query(state, consts, "k", 10.0, 112.0) == pytest.approx(10 / math.sqrt(20))
    assert zscore_of(state.entities["k"], 3.5, 112.0) is None  # only 4 amounts at or before 3.5
    assert state.entity_count() == 1


# ---- card_testing


def test_card_testing_counts_small_payments_in_the_window() -> None:
    probe = Probe("card_testing(event.card_id)")
    values = probe.run(pay(0, 1.0), pay(60, 1.5), pay(120, 50.0), pay(180, 2.0), pay(240, 2.01))
    # amount <= 2.0 counts, the current payment included
    assert values == [1, 2, 2, 3, 3]


def test_card_testing_window_boundary_and_named_arguments() -> None:
    probe = Probe("card_testing(event.card_id, w: 10m, max_amount: 2.0)")
    probe.run(pay(0, 1.0))
    assert probe.run(pay(599, 1.0), pay(600, 1.0)) == [2, 2]  # at 600 the first is out: (0, 600]
    probe5 = Probe("card_testing(event.card_id, 1h, max_amount: 5)")
    assert probe5.run(pay(0, 4.0), pay(60, 5.0), pay(120, 5.5)) == [1, 2, 2]


def test_card_testing_null_amount_null_key_and_late_events() -> None:
    probe = Probe("card_testing(event.card_id)")
    probe.run(pay(0, 1.0), pay(300, 1.0))
    assert probe.one(pay(310, None)) == 2  # the current has no amount: not counted
    assert probe.one(pay(320, 1.0, card=None)) is None
    assert probe.one(pay(100, 1.0)) == 2  # late: sees t=0, not t=300 / 310; plus itself


def test_count_small_and_band() -> None:
    assert count_small([0.0, 2.0, 2.5, 1.0], 2.0) == 3
    assert structuring_band(10000, 0.1) == pytest.approx((9000.0, 10000.0))
    assert count_in_band([9000, 9999.99, 10000, 8999.99], 9000, 10000) == 2


# ---- structuring


def test_structuring_counts_amounts_just_under_the_threshold() -> None:
    probe = Probe("structuring(event.card_id)")
    values = probe.run(
        pay(0, 9000.0), pay(60, 9999.99), pay(120, 10000.0), pay(180, 8999.99), pay(240, 9500.0)
    )
    assert values == [1, 2, 2, 2, 3]  # band [9000, 10000)


def test_structuring_window_and_custom_threshold() -> None:
    probe = Probe("structuring(event.card_id)")
    probe.run(pay(0, 9500.0))
    assert probe.run(pay(86399, 9500.0), pay(86400, 9500.0)) == [2, 2]  # 24h: t=0 leaves at 86400
    custom = Probe("structuring(event.card_id, threshold: 1000, margin: 0.2, w: 1h)")
    assert custom.run(pay(0, 800.0), pay(60, 799.0), pay(120, 999.0), pay(3600, 850.0)) == [1, 1, 2, 2]


# ---- duplicate


def test_duplicate_on_a_composite_key() -> None:
    probe = Probe("duplicate([event.card_id, event.merchant_id, event.amount])")
    m = {"merchant_id": "m1"}
    assert probe.one(pay(0, 20.0, **m)) is False  # first of its key
    assert probe.one(pay(300, 20.0, **m)) is True
    assert probe.one(pay(360, 21.0, **m)) is False  # another amount: another key
    assert probe.one(pay(899, 20.0, **m)) is True  # t=300 is in (299, 899]
    assert probe.one(pay(1499, 20.0, **m)) is False  # the one at 899 is exactly 10m old: out of (899, 1499]
    assert probe.one(pay(1500, 20.0, merchant_id=None)) is None  # a null part: null key


def test_duplicate_late_event_and_window_argument() -> None:
    probe = Probe("duplicate(event.card_id, w: 1h)")
    probe.run(pay(3600, 1.0))
    assert probe.one(pay(100, 1.0)) is False  # the logged one happened after it
    assert probe.one(pay(3700, 1.0)) is True


def test_amount_detector_diagnostics() -> None:
    assert "cannot serve login events" in pack_error("amount_zscore(event.user_id) > 3", on="login")
    assert "'margin' must be between 0 and 1" in pack_error("structuring(event.card_id, margin: 1.5) > 1")
    assert "'w' must be greater than 0" in pack_error("card_testing(event.card_id, w: 0s) > 1")
    assert "'max_amount' must be number, not string" in pack_error(
        'card_testing(event.card_id, max_amount: "2") > 1'
    )
    assert "'w' must be duration, not number" in pack_error("duplicate(event.card_id, 600)")


def test_event_logs_forget_keys_that_left_every_window() -> None:
    from engine.detectors.windows import EventLog, ValueLog

    log, values = EventLog(retention=600.0), ValueLog(retention=600.0)
    for i in range(3000):  # one key per event, as with duplicate([card, merchant, amount])
        log.observe(("c", i), float(i), 1.0)
        values.observe(("c", i), float(i), "v")
    assert log.entity_count() < 2100 and values.entity_count() < 2100
    assert ("c", 2999) in log.times and ("c", 0) not in log.times
    lo, hi = log.span(("c", 2999), 2999.0, 600.0)
    assert hi - lo == 1
