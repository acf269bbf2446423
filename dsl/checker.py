"""The checker: names, types, clauses and tests of a pack, every problem collected at once.

``check`` returns the diagnostics and, when there is no error, a ``CheckedPack``
ready for the compiler. Expressions are checked once per event kind the pack is
``on``, so a field or detector must exist for every kind a rule can see.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

import msgspec

from dsl import ast
from dsl.analysis import CheckedPack, ModelInfo, RuleInfo
from dsl.check_exprs import Scope, check_expr, literal_type, static_bool
from dsl.check_tests import check_tests
from dsl.check_warnings import warn
from dsl.diagnostics import Collector, Diagnostic, Source, did_you_mean
from dsl.types import ANY, BOOL, DURATION, NULL, NUMBER, STRING, Environment, Type, list_of

RESERVED = frozenset(
    [
        "pack",
        "on",
        "list",
        "let",
        "rule",
        "model",
        "outcome",
        "risk",
        "test",
        "when",
        "then",
        "score",
        "severity",
        "tags",
        "case",
        "queue",
        "key",
        "priority",
        "notify",
        "mode",
        "shadow",
        "until",
        "id",
        "explain",
        "kind",
        "features",
        "label",
        "given",
        "ref",
        "lists",
        "expect",
        "hits",
        "no",
        "after",
        "every",
        "managed",
        "and",
        "or",
        "not",
        "in",
        "is",
        "null",
        "true",
        "false",
        "matches",
        "between",
        "event",
    ]
)
_PACK_NAME = re.compile(r"[a-z][a-z0-9_]*")
_SINGLE_CLAUSES = (ast.When, ast.Then, ast.ScoreClause, ast.SeverityClause, ast.CaseClause, ast.ModeShadow)
_CLAUSE_WORD = {
    ast.When: "when",
    ast.Then: "then",
    ast.ScoreClause: "score",
    ast.SeverityClause: "severity",
    ast.CaseClause: "case",
    ast.ModeShadow: "mode",
    ast.RuleId: "id",
    ast.Explain: "explain",
    ast.Tags: "tags",
}


@dataclass
class _Lets:
    """Checks lets on first use so that order does not matter and cycles are caught."""

    lets: dict[str, ast.Let]
    done: dict[str, set[str]] = field(default_factory=dict)

    def knows(self, name: str) -> bool:
        return name in self.lets

    def names(self) -> list[str]:
        return list(self.lets)

    def resolve(self, name: str, scope: Scope) -> None:
        let = self.lets[name]
        outer = scope.resolving
        scope.resolving = (*outer, name)
        try:
            t = check_expr(let.expr, scope)
        finally:
            scope.resolving = outer
        scope.let_types[name] = t


def check(pack: ast.Pack, env: Environment, source: Source) -> tuple[CheckedPack | None, list[Diagnostic]]:
    """Check a parsed pack against the environment; a CheckedPack only when error-free."""
    out = Collector(source)
    _check_header(pack, out)
    kinds = _check_on(pack, env, out)
    lists, lets = _declarations(pack, out)
    models = _models(pack, out)
    rules = [_rule(rule, index, out) for index, rule in enumerate(pack.of_type(ast.Rule))]
    _unique_rule_ids(rules, out)
    outcome = _outcome(pack, out)
    risk = _risk(pack, out)

    list_types = {name: _list_type(d, out) for name, d in lists.items()}
    model_kinds = {name: m.kind for name, m in models.items()}
    checked = CheckedPack(
        pack, source, env, kinds, lets, lists, [r for r in rules if r], outcome, risk, models
    )
    used: set[str] = set()
    for kind in kinds:
        scope = Scope(
            env,
            env.kinds[kind],
            out,
            {},
            list_types,
            model_kinds,
            checked.types,
            let_resolver=_Lets(lets),
            lets=lets,
            pack_kinds=kinds,
        )
        for name, let in lets.items():
            if name not in scope.let_types:
                scope.resolving = (name,)
                scope.let_types[name] = check_expr(let.expr, scope)
                scope.resolving = ()
        for info in checked.rules:
            _check_rule_exprs(info, scope)
        scope.allow_score = True
        for line in outcome:
            if line.when is not None:
                _require_bool(check_expr(line.when, scope), line.when, "an outcome condition", out)
        scope.allow_score = False
        for model in models.values():
            for feature in model.features:
                t = check_expr(feature, scope)
                if t not in (NUMBER, BOOL, ANY, NULL):
                    out.error(feature.span, "type", f"a model feature must be a number or a boolean, not {t}")
        used |= scope.used
    checked.tests = check_tests(pack, checked, out)
    warn(checked, used, out)
    diagnostics = out.sorted()
    return (None if out.has_errors else checked), diagnostics


def _check_header(pack: ast.Pack, out: Collector) -> None:
    if not _PACK_NAME.fullmatch(pack.header.name):
        out.error(
            pack.header.span,
            "name",
            f"pack name '{pack.header.name}' must be lower case: letters, digits and _ (e.g. cards_eu)",
        )


def _check_on(pack: ast.Pack, env: Environment, out: Collector) -> tuple[str, ...]:
    ons = pack.of_type(ast.On)
    if not ons:
        out.error(
            pack.header.span, "missing-on", "a pack needs an 'on' line naming the event kinds it evaluates"
        )
        return ()
    for extra in ons[1:]:
        out.error(
            extra.span, "duplicate", "a pack has one 'on' line; list every kind there, separated by commas"
        )
    kinds: list[str] = []
    for name, span in zip(ons[0].kinds, ons[0].kind_spans, strict=False):
        if name not in env.kinds:
            hint = did_you_mean(name, env.kinds) or f"; known kinds: {', '.join(env.kinds)}"
            out.error(span, "unknown-kind", f"unknown event kind '{name}'{hint}")
        elif name in kinds:
            out.warning(span, "duplicate", f"event kind '{name}' is listed twice")
        else:
            kinds.append(name)
    return tuple(kinds)


def _declarations(pack: ast.Pack, out: Collector) -> tuple[dict[str, ast.ListDef], dict[str, ast.Let]]:
    lists: dict[str, ast.ListDef] = {}
    lets: dict[str, ast.Let] = {}
    seen: dict[str, str] = {}
    for item in pack.items:
        if not isinstance(item, ast.ListDef | ast.Let):
            continue
        what = "list" if isinstance(item, ast.ListDef) else "let"
        if item.name in RESERVED:
            out.error(
                item.name_span, "reserved", f"'{item.name}' is a reserved word and cannot name a {what}"
            )
            continue
        if item.name in seen:
            out.error(item.name_span, "duplicate", f"'{item.name}' is already defined as a {seen[item.name]}")
            continue
        seen[item.name] = what
        if isinstance(item, ast.ListDef):
            lists[item.name] = item
        else:
            lets[item.name] = item
    return lists, lets


def _list_type(decl: ast.ListDef, out: Collector) -> Type:
    if decl.items is None:
        return list_of(STRING)  # managed lists hold strings
    elem: Type = NULL
    for item in decl.items.items:
        if not isinstance(item, ast.Literal | ast.Duration):
            out.error(item.span, "list-constant", f"list '{decl.name}' may only hold constants")
            continue
        t = DURATION if isinstance(item, ast.Duration) else literal_type(item.value)
        if elem == NULL:
            elem = t
        elif t != elem:
            out.error(item.span, "type", f"list '{decl.name}' mixes {elem} and {t}")
    return list_of(ANY if elem == NULL else elem)


def _models(pack: ast.Pack, out: Collector) -> dict[str, ModelInfo]:
    models: dict[str, ModelInfo] = {}
    for model in pack.of_type(ast.Model):
        if model.name in models:
            out.error(model.name_span, "duplicate", f"model '{model.name}' is defined twice")
            continue
        kinds = [c for c in model.clauses if isinstance(c, ast.ModelKind)]
        features = [c for c in model.clauses if isinstance(c, ast.ModelFeatures)]
        labels = [c for c in model.clauses if isinstance(c, ast.ModelLabel)]
        for clauses, word in ((kinds, "kind"), (features, "features"), (labels, "label")):
            for extra in clauses[1:]:
                out.error(extra.span, "duplicate", f"model '{model.name}' has more than one '{word}' clause")
        if not features:
            out.error(model.name_span, "model", f"model '{model.name}' needs a 'features' clause")
        kind = kinds[0].kind if kinds else "classifier"
        label = labels[0].source if labels else "fraud"
        if kind == "classifier" and not labels:
            out.error(
                model.name_span,
                "model",
                f"classifier '{model.name}' needs a 'label' clause (e.g. label fraud)",
            )
        if labels and labels[0].source not in ("fraud", "legitimate"):
            out.error(
                labels[0].span, "model", "a model's label is 'fraud' (from dispositions and the label API)"
            )
        models[model.name] = ModelInfo(model, kind, features[0].exprs if features else (), label)
    return models


def _rule(rule: ast.Rule, index: int, out: Collector) -> RuleInfo | None:
    if rule.name in RESERVED:
        out.error(rule.name_span, "reserved", f"'{rule.name}' is a reserved word and cannot name a rule")
    seen: dict[type, ast.Node] = {}
    for clause in rule.clauses:
        if isinstance(clause, _SINGLE_CLAUSES + (ast.RuleId, ast.Explain, ast.Tags)):
            if type(clause) in seen:
                word = _CLAUSE_WORD[type(clause)]
                out.error(clause.span, "duplicate", f"rule '{rule.name}' has more than one '{word}' clause")
            seen[type(clause)] = clause
    when = seen.get(ast.When)
    if when is None:
        out.error(rule.name_span, "missing-when", f"rule '{rule.name}' needs a 'when' clause")
    then = seen.get(ast.Then)
    score = seen.get(ast.ScoreClause)
    severity = seen.get(ast.SeverityClause)
    tags = seen.get(ast.Tags)
    mode = seen.get(ast.ModeShadow)
    until = None
    if isinstance(mode, ast.ModeShadow) and mode.until is not None:
        try:
            until = dt.date.fromisoformat(mode.until)
        except ValueError:
            out.error(mode.span, "date", f"'{mode.until}' is not a valid date (YYYY-MM-DD)")
    explain = seen.get(ast.Explain)
    parts: tuple[str | ast.Expr, ...] = ()
    if isinstance(explain, ast.Explain):
        parts = _explain_parts(explain, out)
    if isinstance(tags, ast.Tags) and len(set(tags.names)) != len(tags.names):
        out.warning(tags.span, "duplicate", f"rule '{rule.name}' repeats a tag")
    rule_id = seen.get(ast.RuleId)
    return RuleInfo(
        node=rule,
        index=index,
        when=when.expr if isinstance(when, ast.When) else None,
        verdict=then.verdict if isinstance(then, ast.Then) else None,
        score=score.value if isinstance(score, ast.ScoreClause) else 0,
        severity=severity.level if isinstance(severity, ast.SeverityClause) else "medium",
        tags=tags.names if isinstance(tags, ast.Tags) else (),
        case=seen.get(ast.CaseClause),  # type: ignore[arg-type]
        notify=tuple(c.integration for c in rule.clauses if isinstance(c, ast.NotifyClause)),
        shadow=mode is not None,
        shadow_until=until,
        rule_id=rule_id.value if isinstance(rule_id, ast.RuleId) else None,
        explain=explain if isinstance(explain, ast.Explain) else None,
        explain_parts=parts,
    )


def _explain_parts(explain: ast.Explain, out: Collector) -> tuple[str | ast.Expr, ...]:
    from dsl.parser import ParseFailure, parse_expression  # parser imports are heavy; only when used

    parts: list[str | ast.Expr] = []
    pos = 0
    text = explain.template
    where = explain.template_span if explain.template_span.line else explain.span
    raw = out.source.line(where.line)[where.column - 1 : where.end_column - 1]
    raw_starts = [m.start(1) for m in _PLACEHOLDER.finditer(raw)]
    for index, m in enumerate(_PLACEHOLDER.finditer(text)):
        parts.append(text[pos : m.start()])
        offset = raw_starts[index] if index < len(raw_starts) else 0
        # parse_expression puts the text at line 2, column 9 of a scratch pack
        delta = where.column + offset - 9
        try:
            expr = _shift(parse_expression(m.group(1)), where.line, delta)
        except (ParseFailure, Exception):
            start = where.column + offset
            span = ast.Span(where.line, start, where.line, start + max(1, len(m.group(1))))
            out.error(span, "explain", f"'{{{m.group(1)}}}' in explain is not an expression")
            expr = ast.Literal(None, span=span)
        parts.append(expr)
        pos = m.end()
    parts.append(text[pos:])
    return tuple(p for p in parts if p != "")


_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def _shift(node: Any, line: int, delta: int) -> Any:
    """Move the spans of a parsed explain expression to where it stands in the pack."""
    changes: dict[str, Any] = {}
    for name in node.__struct_fields__:
        value = getattr(node, name)
        if isinstance(value, ast.Span):
            changes[name] = _moved(value, line, delta)
        elif isinstance(value, ast.Node):
            changes[name] = _shift(value, line, delta)
        elif isinstance(value, tuple) and value and isinstance(value[0], ast.Node | ast.Span):
            changes[name] = tuple(
                _moved(v, line, delta) if isinstance(v, ast.Span) else _shift(v, line, delta) for v in value
            )
    return msgspec.structs.replace(node, **changes)


def _moved(span: ast.Span, line: int, delta: int) -> ast.Span:
    if not span.line:
        return span
    return ast.Span(line, span.column + delta, line, span.end_column + delta)


def _unique_rule_ids(rules: list[RuleInfo | None], out: Collector) -> None:
    names: set[str] = set()
    ids: set[str] = set()
    for info in rules:
        if info is None:
            continue
        if info.name in names:
            out.error(info.node.name_span, "duplicate", f"rule '{info.name}' is defined twice")
        names.add(info.name)
        if info.rule_id is not None:
            if info.rule_id in ids:
                out.error(info.node.name_span, "duplicate", f"rule id '{info.rule_id}' is used by two rules")
            ids.add(info.rule_id)


def _check_rule_exprs(info: RuleInfo, scope: Scope) -> None:
    if info.when is not None:
        _require_bool(check_expr(info.when, scope), info.when, "the condition of 'when'", scope.collector)
    narrowed_away = info.when is not None and static_bool(info.when, scope.kind.name, scope.lets) is False
    if narrowed_away:
        return
    if info.case is not None and info.case.key is not None:
        t = check_expr(info.case.key, scope)
        if t.name in ("record",) or t == BOOL:
            scope.collector.error(
                info.case.key.span, "type", f"a case key must be a string or number, not {t}"
            )
    for part in info.explain_parts:
        if not isinstance(part, str):
            check_expr(part, scope)


def _require_bool(t: Type, expr: ast.Expr, what: str, out: Collector) -> None:
    if t not in (BOOL, ANY, NULL):
        out.error(expr.span, "type", f"{what} must be a boolean, not {t}")


def _outcome(pack: ast.Pack, out: Collector) -> list[ast.OutcomeLine]:
    blocks = pack.of_type(ast.OutcomeBlock)
    if not blocks:
        out.error(
            pack.header.span,
            "missing-outcome",
            "a pack needs an 'outcome' block (e.g. review when score >= 40)",
        )
        return []
    for extra in blocks[1:]:
        out.error(extra.span, "duplicate", "a pack has one 'outcome' block")
    lines = list(blocks[0].lines)
    for i, line in enumerate(lines):
        if line.when is None and i < len(lines) - 1:
            out.warning(
                lines[i + 1].span,
                "unreachable",
                "this outcome line is never reached: the line above always holds",
            )
            break
    return lines


def _risk(pack: ast.Pack, out: Collector) -> tuple[float, float, float]:
    items = pack.of_type(ast.RiskLevels)
    if not items:
        return (25, 50, 80)
    for extra in items[1:]:
        out.error(extra.span, "duplicate", "a pack has one 'risk' line")
    r = items[0]
    if not r.medium < r.high < r.critical:
        out.error(r.span, "risk", "risk thresholds must rise: medium < high < critical")
    return (r.medium, r.high, r.critical)
