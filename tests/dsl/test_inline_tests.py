"""Tests inside a pack (SPEC, "Tests inside a pack"): the timeline, stubs, lists and expectations."""

from __future__ import annotations

import datetime as dt

import pytest

from dsl import ast
from dsl.parser import parse
from engine.pack import PackError, load_pack
from engine.testing import TEST_EPOCH, build_events, run_tests

PACK = """pack m 1.0.0
on payment

list blocked = managed "blocked_ips"

model card_risk
  kind classifier
  features event.amount, log(event.amount + 1)
  label fraud

rule risky
  when model("card_risk") > 0.8
  then review
  score 10

rule burst
  when velocity(event.card_id, 30m) >= 3
  score 50

rule blocked_ip
  when event.ip in blocked
  then block

rule shadow_big
  when event.amount > 100
  mode shadow

outcome
  block when score >= 50
  approve

test "stubbed model"
  given model "card_risk" = 0.81
  given payment { amount: 5.0 }
  expect review
  expect hits risky

test "no trained model is null"
  given payment { amount: 5.0 }
  expect approve
  expect no hits

test "three in twenty minutes"
  given 3 payment every 10m { card_id: "c1" }
  expect hits burst
  expect block
  expect score >= 50

test "the third one forty minutes later"
  given 2 payment every 10m { card_id: "c1" }
  given payment after 30m { card_id: "c1" }
  expect no hits

test "explicit timestamps continue the timeline"
  given payment { card_id: "c1", timestamp: "2026-05-01T10:00:00Z" }
  given payment { card_id: "c1", timestamp: "2026-05-01T10:05:00Z" }
  given payment after 1m { card_id: "c1" }
  expect hits burst

test "a managed list filled for the test"
  lists blocked = ["203.0.113.9"]
  given payment { ip: "203.0.113.9" }
  expect block
  expect hits blocked_ip

test "lists do not leak between tests"
  given payment { ip: "203.0.113.9" }
  expect no hits

test "shadow hits are apart from expect hits"
  given payment { amount: 500.0 }
  expect no hits
  expect approve

test "a failing test"
  given payment { amount: 500.0 }
  expect hits shadow_big
  expect block
  expect score > 0
"""


def test_results() -> None:
    results = run_tests(load_pack(PACK))
    assert [(r.name, r.passed) for r in results] == [
        ("stubbed model", True),
        ("no trained model is null", True),
        ("three in twenty minutes", True),
        ("the third one forty minutes later", True),
        ("explicit timestamps continue the timeline", True),
        ("a managed list filled for the test", True),
        ("lists do not leak between tests", True),
        ("shadow hits are apart from expect hits", True),
        ("a failing test", False),
    ]
    failing = results[-1]
    assert failing.failures == (
        "expected hits shadow_big; got no hits",
        "expected block, got approve",
        "expected score > 0, got 0",
    )
    assert failing.decision is not None and [h.rule for h in failing.decision.shadow_hits] == ["shadow_big"]
    assert failing.line == PACK.splitlines().index('test "a failing test"') + 1


def _test(clauses: str) -> ast.Test:
    (test,) = parse(f'pack x 1.0.0\ntest "t"\n{clauses}').items
    assert isinstance(test, ast.Test)
    return test


def _times(clauses: str) -> list[tuple[str, dt.datetime]]:
    return [(e.id, e.timestamp) for e in build_events(_test(clauses))]


def test_the_timeline() -> None:
    minute = dt.timedelta(minutes=1)
    got = _times(
        "  given 3 payment every 10m\n"
        "  given payment\n"
        '  given 2 login after 1h every 5s { user_id: "u" }\n'
        '  given payment { timestamp: "2026-06-01T00:00:00Z", id: "mine" }\n'
        "  given payment\n"
    )
    assert got == [
        ("t1", TEST_EPOCH),
        ("t2", TEST_EPOCH + 10 * minute),
        ("t3", TEST_EPOCH + 20 * minute),
        ("t4", TEST_EPOCH + 21 * minute),
        ("t5", TEST_EPOCH + 81 * minute),
        ("t6", TEST_EPOCH + 81 * minute + dt.timedelta(seconds=5)),
        ("mine", dt.datetime(2026, 6, 1, tzinfo=dt.UTC)),
        ("t8", dt.datetime(2026, 6, 1, tzinfo=dt.UTC) + minute),
    ]


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ("given payment { geo: { lat: 1.0 } }", "invalid event"),
    ],
)
def test_an_invalid_event_fails_the_test(given: str, problem: str) -> None:
    text = f'pack x 1.0.0\non payment\nrule r\n  when event.amount > 1\noutcome\n  approve\ntest "t"\n  {given}\n  expect no hits\n'
    (result,) = run_tests(load_pack(text))
    assert not result.passed
    assert result.failures[0].startswith(problem)


def test_a_test_event_with_a_bad_timestamp_is_a_diagnostic() -> None:
    text = (
        "pack x 1.0.0\non payment\nrule r\n  when event.amount > 1\noutcome\n  approve\n"
        'test "t"\n  given payment { timestamp: "yesterday" }\n  expect no hits\n'
    )
    with pytest.raises(PackError) as caught:
        load_pack(text)
    (error,) = [d for d in caught.value.diagnostics if d.severity == "error"]
    assert (error.line, error.column) == (8, 19)
    assert "RFC 3339" in error.message
