"""The canonical formatter: one layout for every pack, and the source text of expressions.

``format_pack`` keeps the statements and clauses in the order written and only
fixes layout, so ``parse(format_pack(p)) == p`` (spans aside) for every pack.
"""

from __future__ import annotations

import decimal
import math
from typing import Any

from dsl import ast

_PRECEDENCE = {
    "or": 1,
    "and": 2,
    "not": 3,
    "cmp": 4,
    "+": 5,
    "-": 5,
    "*": 6,
    "/": 6,
    "%": 6,
    "neg": 7,
    "atom": 8,
}
_KNOWN_ESCAPES = '"\\ntru'


def quote(value: str) -> str:
    """A string literal that reads back as ``value``; backslashes that cannot be misread stay single."""
    out: list[str] = []
    for i, ch in enumerate(value):
        if ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\\":
            nxt = value[i + 1] if i + 1 < len(value) else ""
            # a lone backslash reads back only before a plain character that starts no escape
            single = nxt != "" and nxt not in _KNOWN_ESCAPES and nxt.isprintable()
            out.append("\\" if single else "\\\\")
        elif not ch.isprintable() and ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def number(value: int | float) -> str:
    """A number as the language writes it: no exponent, and a float always has its point."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} has no literal in the rule language")
        text = format(decimal.Decimal(repr(value)), "f")
        return text if "." in text else text + ".0"
    return str(value)


def _prec(expr: ast.Expr) -> int:
    if isinstance(expr, ast.Binary):
        return _PRECEDENCE[expr.op]
    if isinstance(expr, ast.Unary):
        return _PRECEDENCE["not"] if expr.op == "not" else _PRECEDENCE["neg"]
    if isinstance(expr, ast.Compare | ast.Matches | ast.Between | ast.IsNull):
        return _PRECEDENCE["cmp"]
    if (
        isinstance(expr, ast.Literal)
        and isinstance(expr.value, int | float)
        and not isinstance(expr.value, bool)
    ):
        return _PRECEDENCE["neg"] if expr.value < 0 else _PRECEDENCE["atom"]
    return _PRECEDENCE["atom"]


def expr_source(expr: ast.Expr) -> str:
    """The canonical text of an expression."""
    return _expr(expr)


def _wrap(expr: ast.Expr, minimum: int) -> str:
    text = _expr(expr)
    return f"({text})" if _prec(expr) < minimum else text


def _expr(expr: ast.Expr) -> str:
    if isinstance(expr, ast.Literal):
        return _literal(expr.value)
    if isinstance(expr, ast.Duration):
        return expr.text
    if isinstance(expr, ast.Field):
        return ".".join(("event", *expr.path))
    if isinstance(expr, ast.Name):
        return expr.name
    if isinstance(expr, ast.ScoreRef):
        return "score"
    if isinstance(expr, ast.ListExpr):
        return "[" + ", ".join(_expr(i) for i in expr.items) + "]"
    if isinstance(expr, ast.Call):
        args = ", ".join(f"{a.name}: {_expr(a.value)}" if a.name else _expr(a.value) for a in expr.args)
        return f"{expr.func}({args})"
    if isinstance(expr, ast.Unary):
        if expr.op == "not":
            return "not " + _wrap(expr.operand, _PRECEDENCE["not"])
        return "-" + _wrap(expr.operand, _PRECEDENCE["atom"])
    if isinstance(expr, ast.Binary):
        p = _PRECEDENCE[expr.op]
        # left-associative: a right operand of equal precedence needs parentheses
        return f"{_wrap(expr.left, p)} {expr.op} {_wrap(expr.right, p + 1)}"
    cmp = _PRECEDENCE["cmp"] + 1
    if isinstance(expr, ast.Compare):
        return f"{_wrap(expr.left, cmp)} {expr.op} {_wrap(expr.right, cmp)}"
    if isinstance(expr, ast.Matches):
        return f"{_wrap(expr.subject, cmp)} matches {quote(expr.pattern)}"
    if isinstance(expr, ast.Between):
        return f"{_wrap(expr.subject, cmp)} between {_wrap(expr.low, cmp)} and {_wrap(expr.high, cmp)}"
    if isinstance(expr, ast.IsNull):
        return f"{_wrap(expr.subject, cmp)} is {'not ' if expr.negated else ''}null"
    raise AssertionError(type(expr).__name__)


def _literal(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return quote(value)
    return number(value)


def _value(value: Any) -> str:
    """A test value: literal, list or object."""
    if isinstance(value, ast.ObjectValue):
        return _object(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return _literal(value)


def _object(obj: ast.ObjectValue) -> str:
    if not obj.pairs:
        return "{ }"
    return "{ " + ", ".join(f"{k}: {_value(v)}" for k, v in obj.pairs) + " }"


def _clause(clause: ast.RuleClause) -> str:
    if isinstance(clause, ast.When):
        return "when " + _expr(clause.expr)
    if isinstance(clause, ast.Then):
        return "then " + clause.verdict
    if isinstance(clause, ast.ScoreClause):
        return "score " + number(clause.value)
    if isinstance(clause, ast.SeverityClause):
        return "severity " + clause.level
    if isinstance(clause, ast.Tags):
        return "tags " + ", ".join(clause.names)
    if isinstance(clause, ast.CaseClause):
        text = "case queue " + quote(clause.queue)
        if clause.key is not None:
            text += " key " + _expr(clause.key)
        if clause.priority is not None:
            text += " priority " + clause.priority
        return text
    if isinstance(clause, ast.NotifyClause):
        return "notify " + quote(clause.integration)
    if isinstance(clause, ast.ModeShadow):
        return "mode shadow" + (f" until {clause.until}" if clause.until else "")
    if isinstance(clause, ast.RuleId):
        return "id " + quote(clause.value)
    if isinstance(clause, ast.Explain):
        return "explain " + quote(clause.template)
    raise AssertionError(type(clause).__name__)


def _test_clause(clause: ast.TestClause) -> str:
    if isinstance(clause, ast.GivenEvent):
        parts = ["given"]
        if clause.count is not None:
            parts.append(str(clause.count))
        parts.append(clause.kind)
        if clause.after is not None:
            parts.append("after " + clause.after.text)
        if clause.every is not None:
            parts.append("every " + clause.every.text)
        if clause.fields is not None:
            parts.append(_object(clause.fields))
        return " ".join(parts)
    if isinstance(clause, ast.GivenModel):
        return f"given model {quote(clause.model)} = {number(clause.score)}"
    if isinstance(clause, ast.GivenRef):
        return f"given ref {clause.table} {_object(clause.record)}"
    if isinstance(clause, ast.TestList):
        return f"lists {clause.name} = {_expr(clause.items)}"
    if isinstance(clause, ast.ExpectOutcome):
        return "expect " + clause.outcome
    if isinstance(clause, ast.ExpectHits):
        return "expect hits " + ", ".join(clause.rules)
    if isinstance(clause, ast.ExpectNoHits):
        return "expect no hits"
    if isinstance(clause, ast.ExpectScore):
        return f"expect score {clause.op} {number(clause.value)}"
    raise AssertionError(type(clause).__name__)


Line = tuple[str, ast.Span]


def _item(item: ast.Item) -> list[Line]:
    span = item.span
    if isinstance(item, ast.On):
        return [("on " + ", ".join(item.kinds), span)]
    if isinstance(item, ast.ListDef):
        if item.managed is not None:
            return [(f"list {item.name} = managed {quote(item.managed)}", span)]
        assert item.items is not None
        return [(f"list {item.name} = {_expr(item.items)}", span)]
    if isinstance(item, ast.Let):
        return [(f"let {item.name} = {_expr(item.expr)}", span)]
    if isinstance(item, ast.RiskLevels):
        text = f"risk medium {number(item.medium)} high {number(item.high)} critical {number(item.critical)}"
        return [(text, span)]
    if isinstance(item, ast.Rule):
        head = f"rule {item.name}" + (f" {quote(item.description)}" if item.description is not None else "")
        return [(head, item.name_span)] + [("  " + _clause(c), c.span) for c in item.clauses]
    if isinstance(item, ast.Model):
        lines: list[Line] = [(f"model {item.name}", item.name_span)]
        for clause in item.clauses:
            if isinstance(clause, ast.ModelKind):
                lines.append(("  kind " + clause.kind, clause.span))
            elif isinstance(clause, ast.ModelFeatures):
                lines.append(
                    ("  features " + ",\n           ".join(_expr(e) for e in clause.exprs), clause.span)
                )
            else:
                lines.append(("  label " + clause.source, clause.span))
        return lines
    if isinstance(item, ast.OutcomeBlock):
        width = max((len(line.outcome) for line in item.lines if line.when is not None), default=0)
        out: list[Line] = [("outcome", ast.Span(span.line, span.column, span.line, span.column + 7))]
        for line in item.lines:
            if line.when is None:
                out.append(("  " + line.outcome, line.span))
            else:
                out.append((f"  {line.outcome.ljust(width)} when {_expr(line.when)}", line.span))
        return out
    if isinstance(item, ast.Test):
        test_head = ast.Span(span.line, span.column, span.line, span.column)
        return [(f"test {quote(item.name)}", test_head)] + [
            ("  " + _test_clause(c), c.span) for c in item.clauses
        ]
    raise AssertionError(type(item).__name__)


def comments_of(text: str) -> dict[int, tuple[str, bool]]:
    """Comments by line number: their text and whether they stand alone on their line."""
    found: dict[int, tuple[str, bool]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        in_string = False
        i = 0
        while i < len(line):
            ch = line[i]
            if in_string and ch == "\\":
                i += 2
                continue
            if ch == '"':
                in_string = not in_string
            elif ch == "#" and not in_string:
                found[number] = (line[i:].rstrip(), line[:i].strip() == "")
                break
            i += 1
    return found


def format_pack(pack: ast.Pack, text: str | None = None) -> str:
    """The canonical text of a pack: blank lines between blocks, two-space clauses.

    With the original ``text``, comments are kept: a comment alone on its line stays
    above the statement or clause that follows it, a trailing one stays at the end of
    the line it ended.
    """
    comments = comments_of(text) if text is not None else {}
    header = pack.header
    head = f"pack {header.name} {header.version}" + (
        f" {quote(header.title)}" if header.title is not None else ""
    )
    blocks: list[list[Line]] = [[(head, header.span)]]
    previous: type | None = None
    for item in pack.items:
        lines = _item(item)
        single = isinstance(item, ast.On | ast.ListDef | ast.Let | ast.RiskLevels)
        if (single and previous is type(item)) or (isinstance(item, ast.On) and previous is None):
            blocks[-1].extend(lines)
        else:
            blocks.append(lines)
        previous = type(item)
    rendered: list[str] = []
    pending = sorted(comments)
    for block in blocks:
        out: list[str] = []
        for line_text, span in block:
            indent = line_text[: len(line_text) - len(line_text.lstrip())]
            while pending and span.line and pending[0] < span.line:
                out.append(indent + comments[pending.pop(0)][0])
            trailing = []
            while pending and span.line and pending[0] <= (span.end_line or span.line):
                trailing.append(comments[pending.pop(0)][0])
            out.append(line_text + "".join("  " + c for c in trailing))
        rendered.append("\n".join(out))
    tail = [comments[n][0] for n in pending]
    body = "\n\n".join(rendered)
    if tail:
        body += "\n\n" + "\n".join(tail)
    return body + "\n"
