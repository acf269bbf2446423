"""Checks the inline tests of a pack: event kinds and fields, lists, models, expected rules."""

from __future__ import annotations

import datetime as dt
from typing import Any

from dsl import ast
from dsl.analysis import CheckedPack
from dsl.diagnostics import Collector, did_you_mean
from dsl.types import ANY, BOOL, NUMBER, STRING, TIMESTAMP, Type


def check_tests(pack: ast.Pack, checked: CheckedPack, out: Collector) -> list[ast.Test]:
    tests: list[ast.Test] = []
    names: set[str] = set()
    rule_names = [r.name for r in checked.rules]
    for test in pack.of_type(ast.Test):
        if test.name in names:
            out.error(test.span, "duplicate", f"test '{test.name}' is defined twice")
        names.add(test.name)
        givens = [c for c in test.clauses if isinstance(c, ast.GivenEvent)]
        expects = [
            c
            for c in test.clauses
            if isinstance(c, ast.ExpectOutcome | ast.ExpectHits | ast.ExpectNoHits | ast.ExpectScore)
        ]
        if not givens:
            out.error(test.span, "test", f"test '{test.name}' has no 'given' event")
        if not expects:
            out.warning(test.span, "test", f"test '{test.name}' expects nothing")
        for clause in test.clauses:
            _clause(clause, checked, rule_names, out)
        tests.append(test)
    return tests


def _clause(clause: ast.TestClause, checked: CheckedPack, rule_names: list[str], out: Collector) -> None:
    env = checked.env
    if isinstance(clause, ast.GivenEvent):
        schema = env.kinds.get(clause.kind)
        if schema is None:
            hint = did_you_mean(clause.kind, env.kinds) or f"; known kinds: {', '.join(env.kinds)}"
            out.error(clause.kind_span, "unknown-kind", f"unknown event kind '{clause.kind}'{hint}")
            return
        if clause.count is not None and clause.count < 1:
            out.error(clause.span, "test", "a test gives at least 1 event")
        if clause.count is not None and clause.count > 100_000:
            out.error(clause.span, "test", "a test gives at most 100000 events on one line")
        if clause.fields is not None:
            _object(clause.fields, schema.fields, clause.kind, out, top=True)
    elif isinstance(clause, ast.TestList):
        decl = checked.lists.get(clause.name)
        if decl is None:
            hint = did_you_mean(clause.name, checked.lists)
            out.error(clause.span, "unknown-list", f"unknown list '{clause.name}'{hint}")
        elif decl.managed is None:
            out.error(
                clause.span, "test", f"list '{clause.name}' is inline; a test can only fill a managed list"
            )
        for item in clause.items.items:
            if not (isinstance(item, ast.Literal) and isinstance(item.value, str)):
                out.error(item.span, "type", "a managed list holds strings")
    elif isinstance(clause, ast.GivenModel):
        if clause.model not in checked.models:
            hint = did_you_mean(clause.model, checked.models)
            out.error(clause.span, "unknown-model", f"no model named '{clause.model}' in this pack{hint}")
        if not 0 <= clause.score <= 1:
            out.error(clause.span, "test", "a model score lies between 0 and 1")
    elif isinstance(clause, ast.GivenRef):
        if clause.table not in env.ref_tables:
            known = ", ".join(sorted(env.ref_tables)) or "none"
            hint = did_you_mean(clause.table, env.ref_tables) or f"; known tables: {known}"
            out.error(clause.span, "unknown-ref", f"unknown reference table '{clause.table}'{hint}")
    elif isinstance(clause, ast.ExpectHits):
        for name, span in zip(clause.rules, clause.rule_spans, strict=False):
            if name not in rule_names:
                out.error(span, "unknown-rule", f"unknown rule '{name}'{did_you_mean(name, rule_names)}")


def _object(obj: ast.ObjectValue, shape: Type, where: str, out: Collector, top: bool = False) -> None:
    for index, (key, value) in enumerate(obj.pairs):
        span = obj.key_span(index)
        if top and key == "timestamp":
            expected: Type | None = TIMESTAMP
        elif top and key in ("id", "kind"):
            expected = STRING
        else:
            expected = shape.field(key)
        if expected is None:
            names = [n for n, _ in shape.fields] + (["id", "timestamp"] if top else [])
            out.error(span, "unknown-field", f"unknown field '{key}' on {where}{did_you_mean(key, names)}")
            continue
        problem = _value_problem(value, expected, f"{where}.{key}", out)
        if problem:
            out.error(span, "type", problem)


def _value_problem(value: Any, expected: Type, where: str, out: Collector) -> str | None:
    if value is None or expected == ANY:
        return None
    if expected == TIMESTAMP:
        if isinstance(value, str):
            try:
                parsed = dt.datetime.fromisoformat(value)
            except ValueError:
                parsed = None
            if parsed is not None and parsed.tzinfo is not None:
                return None
        return f'{where} must be an RFC 3339 time with a zone, e.g. "2026-01-01T02:00:00Z"'
    if expected == STRING:
        return None if isinstance(value, str) else f"{where} must be a string"
    if expected == NUMBER:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else f"{where} must be a number"
    if expected == BOOL:
        return None if isinstance(value, bool) else f"{where} must be true or false"
    if expected.name == "list":
        if not isinstance(value, tuple):
            return f"{where} must be a list"
        return None
    if expected.fields:
        if not isinstance(value, ast.ObjectValue):
            return f"{where} must be an object {{ ... }}"
        _object(value, expected, where, out)
    return None
