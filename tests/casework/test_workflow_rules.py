"""Pure rules: workflow transitions, SLA due times, canonical JSON. No database."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from casework.canonical import GENESIS_HASH, canonical_json, canonical_time, chain_hash, parse_canonical_time
from casework.errors import InvalidInput, InvalidTransition
from casework.sla import DEFAULT_POLICY, SlaPolicy, policy_from_json, sla_due
from casework.workflow import STATUSES, TRANSITIONS, check_transition, more_urgent, parse_disposition

T0 = dt.datetime(2026, 1, 1, 8, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("open", "investigating"),
        ("open", "escalated"),
        ("investigating", "escalated"),
        ("investigating", "open"),
        ("escalated", "investigating"),
        ("resolved", "open"),
    ],
)
def test_allowed_moves(current: str, target: str) -> None:
    check_transition(current, target, None)  # type: ignore[arg-type]


@pytest.mark.parametrize("current", ["open", "investigating", "escalated"])
def test_resolve_needs_a_disposition(current: str) -> None:
    with pytest.raises(InvalidTransition, match="resolving needs a disposition"):
        check_transition(current, "resolved", None)  # type: ignore[arg-type]
    check_transition(current, "resolved", "legitimate")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("current", "target", "message"),
    [
        (
            "resolved",
            "escalated",
            "cannot move a case from resolved to escalated; from resolved it can go to open",
        ),
        ("resolved", "investigating", "from resolved it can go to open"),
        ("escalated", "open", "from escalated it can go to investigating, resolved"),
        ("open", "open", "case is already open"),
    ],
)
def test_refused_moves_say_why(current: str, target: str, message: str) -> None:
    with pytest.raises(InvalidTransition, match=message):
        check_transition(current, target, None)  # type: ignore[arg-type]


def test_disposition_only_when_resolving() -> None:
    with pytest.raises(InvalidTransition, match="only given when resolving"):
        check_transition("open", "escalated", "fraud_confirmed")


def test_every_status_has_a_way_out() -> None:
    assert set(TRANSITIONS) == set(STATUSES)
    assert all(TRANSITIONS[s] for s in STATUSES)


def test_unknown_disposition() -> None:
    with pytest.raises(InvalidInput, match="unknown disposition 'fraud'; dispositions are fraud_confirmed"):
        parse_disposition("fraud")


def test_more_urgent() -> None:
    assert more_urgent("low", "high") == "high"
    assert more_urgent("urgent", "normal") == "urgent"


@pytest.mark.parametrize(
    ("severity", "priority", "minutes"),
    [
        ("critical", "urgent", 15),
        ("critical", "normal", 60),
        ("medium", "normal", 1440),
        ("low", "low", 8640),
        ("high", "high", 120),
    ],
)
def test_default_sla(severity: str, priority: str, minutes: int) -> None:
    assert sla_due(T0, severity, priority, DEFAULT_POLICY) == T0 + dt.timedelta(minutes=minutes)  # type: ignore[arg-type]


def test_queue_policy_from_json() -> None:
    policy = policy_from_json(
        {
            "severity_minutes": {"critical": 10, "high": 20, "medium": 30, "low": 40},
            "priority_factor": {"urgent": 1, "high": 1, "normal": 2, "low": 3},
        }
    )
    assert sla_due(T0, "medium", "normal", policy) == T0 + dt.timedelta(minutes=60)
    assert policy_from_json(None) is DEFAULT_POLICY


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"severity_minutes": {"critical": 10}}, "lacks low, medium, high"),
        ({"priority_factor": {"urgent": 1, "high": 1, "normal": 0, "low": 1}}, "must be positive"),
        ({"bogus": 1}, "invalid SLA policy"),
    ],
)
def test_bad_policies(document: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        policy_from_json(document)


def test_policy_rejects_unknown_levels() -> None:
    minutes = {"critical": 1, "high": 1, "medium": 1, "low": 1, "extreme": 1}
    with pytest.raises(InvalidInput, match="unknown levels: extreme"):
        SlaPolicy(severity_minutes=minutes)


def test_canonical_json_sorts_keys_without_whitespace() -> None:
    assert (
        canonical_json({"b": 1, "a": {"d": [1, 2], "c": None}, "é": "ü"})
        == '{"a":{"c":null,"d":[1,2]},"b":1,"é":"ü"}'.encode()
    )


def test_canonical_time_is_utc_with_microseconds() -> None:
    local = dt.datetime(2026, 1, 1, 10, 0, 0, 5, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert canonical_time(local) == "2026-01-01T08:00:00.000005Z"
    assert canonical_time(dt.datetime(2026, 1, 1, 8)) == "2026-01-01T08:00:00.000000Z"
    assert parse_canonical_time("2026-01-01T08:00:00.000005Z") == local


def test_chain_hash_is_sha256_of_the_canonical_document() -> None:
    fields = {"seq": 1, "action": "x"}
    expected = hashlib.sha256(
        b'{"action":"x","prev_hash":"' + GENESIS_HASH.encode() + b'","seq":1}'
    ).hexdigest()
    assert chain_hash(fields, GENESIS_HASH) == expected
    assert chain_hash(fields, "1" * 64) != expected
    assert chain_hash({"action": "x", "seq": 1}, GENESIS_HASH) == expected
