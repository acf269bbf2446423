"""Runs a pack's inline tests: each on a fresh engine, events on a synthetic timeline."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from dsl import ast
from dsl.operators import COMPARE
from engine.decision import Decision
from engine.engine import Engine
from engine.events import EventError, event_from_dict
from engine.pack import CompiledPack

#: tests start here unless an event gives its own timestamp
TEST_EPOCH = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
_DEFAULT_GAP = dt.timedelta(minutes=1)


class TestResult(msgspec.Struct, frozen=True):
    name: str
    passed: bool
    failures: tuple[str, ...]
    decision: Decision | None
    line: int = 0


def to_plain(value: Any) -> Any:
    """Test values (ObjectValue, tuples) as JSON-like Python data."""
    if isinstance(value, ast.ObjectValue):
        return {k: to_plain(v) for k, v in value.pairs}
    if isinstance(value, tuple):
        return [to_plain(v) for v in value]
    return value


def build_events(test: ast.Test) -> list[Any]:
    """The test's events as validated Structs, with ids and timestamps filled in."""
    events: list[Any] = []
    clock: dt.datetime | None = None
    for clause in test.clauses:
        if not isinstance(clause, ast.GivenEvent):
            continue
        gap = dt.timedelta(seconds=clause.after.seconds) if clause.after else _DEFAULT_GAP
        every = dt.timedelta(seconds=clause.every.seconds) if clause.every else _DEFAULT_GAP
        fields = to_plain(clause.fields) if clause.fields is not None else {}
        for i in range(clause.count or 1):
            if clock is None:
                clock = TEST_EPOCH
            else:
                clock = clock + (gap if i == 0 else every)
            data = {
                "kind": clause.kind,
                "id": f"t{len(events) + 1}",
                "timestamp": clock.isoformat(),
                **fields,
            }
            if "timestamp" in fields:
                try:
                    clock = dt.datetime.fromisoformat(str(fields["timestamp"]))
                except ValueError:
                    raise EventError(f"timestamp {fields['timestamp']!r} is not an RFC 3339 time") from None
            events.append(event_from_dict(data))
    return events


def run_test(pack: CompiledPack, test: ast.Test) -> TestResult:
    lists: dict[str, list[str]] = {}
    for clause in test.clauses:
        if isinstance(clause, ast.TestList):
            key = pack.checked.lists[clause.name].managed or clause.name
            lists[key] = [str(to_plain(i.value)) for i in clause.items.items if isinstance(i, ast.Literal)]
    engine = Engine([pack], lists=lists)
    for clause in test.clauses:
        if isinstance(clause, ast.GivenModel):
            engine.set_model(clause.model, float(clause.score))
        elif isinstance(clause, ast.GivenRef):
            record = to_plain(clause.record)
            if "id" not in record:
                return TestResult(test.name, False, ("a reference record needs an id",), None, test.span.line)
            engine.set_ref(clause.table, record)
    try:
        events = build_events(test)
    except EventError as exc:
        return TestResult(test.name, False, (f"invalid event: {exc}",), None, test.span.line)
    if not events:
        return TestResult(test.name, False, ("no events given",), None, test.span.line)
    decision = engine.evaluate_many(events)[-1]
    failures = _check_expectations(test, decision)
    return TestResult(test.name, not failures, tuple(failures), decision, test.span.line)


def _check_expectations(test: ast.Test, decision: Decision) -> list[str]:
    failures: list[str] = []
    hit_names = [h.rule for h in decision.hits]
    for clause in test.clauses:
        if isinstance(clause, ast.ExpectOutcome) and decision.outcome != clause.outcome:
            failures.append(f"expected {clause.outcome}, got {decision.outcome}")
        elif isinstance(clause, ast.ExpectHits) and sorted(set(hit_names)) != sorted(set(clause.rules)):
            failures.append(
                f"expected hits {', '.join(clause.rules)}; got {', '.join(hit_names) or 'no hits'}"
            )
        elif isinstance(clause, ast.ExpectNoHits) and hit_names:
            failures.append(f"expected no hits; got {', '.join(hit_names)}")
        elif isinstance(clause, ast.ExpectScore) and not COMPARE[clause.op](decision.score, clause.value):
            failures.append(f"expected score {clause.op} {clause.value}, got {decision.score}")
    return failures


def run_tests(pack: CompiledPack) -> list[TestResult]:
    return [run_test(pack, test) for test in pack.checked.tests]
