"""Source text to syntax tree: the Lark parser (built once) and the tree builder.

A pack that parses in one go is the common case. When it does not, the text is
parsed again statement by statement, so that every syntax error of the pack is
reported at once instead of only the first.
"""

from __future__ import annotations

import math
import re
from functools import cache
from pathlib import Path
from typing import Any

import lark
from lark import Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from dsl import ast
from dsl.diagnostics import Collector, Diagnostic, Source
from dsl.syntax_errors import EXAMPLES, describe_expected

GRAMMAR = Path(__file__).with_name("grammar.lark")

_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r"}
_STATEMENT_START = re.compile(r"^[ \t]*(pack|on|list|let|rule|model|outcome|risk|test)\b", re.M)


class ParseFailure(Exception):
    """The pack has syntax errors; ``diagnostics`` lists every one found."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__("\n".join(d.message for d in diagnostics))
        self.diagnostics = diagnostics


# Operators and clause keywords stay keywords even where the contextual lexer would
# accept a name, so that "a > and b" is reported as a missing operand.
_OPERATOR_WORDS = frozenset({"and", "or", "not", "in", "is", "matches", "between", "when", "then"})


def _keep_keywords(token: Token) -> Token:
    if token.value in _OPERATOR_WORDS:
        token.type = token.value.upper()
    return token


@cache
def lark_parser(strict: bool = False) -> lark.Lark:
    """The parser, built once per process (``strict`` fails on any grammar conflict)."""
    return lark.Lark(
        GRAMMAR.read_text(encoding="utf-8"),
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=True,
        start=["start", "pack_header", "item"],
        strict=strict,
        lexer_callbacks={"NAME": _keep_keywords},
    )


def parse(text: str, path: str = "<pack>") -> ast.Pack:
    """Parse a whole pack, raising ParseFailure with every syntax error found."""
    source = Source(path, text)
    try:
        tree = lark_parser().parse(text, start="start")
    except UnexpectedInput:
        raise ParseFailure(_all_syntax_errors(source)) from None
    try:
        pack: ast.Pack = _Builder().transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, _BuildError):
            collector = Collector(source)
            collector.error(exc.orig_exc.span, "syntax", exc.orig_exc.message)
            raise ParseFailure(collector.sorted()) from None
        raise
    return pack


def parse_expression(text: str) -> ast.Expr:
    """Parse one expression (used by ``explain`` templates)."""
    tree = lark_parser().parse(f"pack x 0.0.0\nlet _ = {text}", start="start")
    pack: ast.Pack = _Builder().transform(tree)
    item = pack.items[0]
    assert isinstance(item, ast.Let)
    return item.expr


def _all_syntax_errors(source: Source) -> list[Diagnostic]:
    """Parse statement by statement, blanking the rest so that positions stay exact."""
    collector = Collector(source)
    text = source.text
    starts = [m.start(1) for m in _STATEMENT_START.finditer(text)]
    if not starts or starts[0] != _first_code_offset(text):
        starts.insert(0, 0)
    bounds = list(zip(starts, [*starts[1:], len(text)], strict=True))
    last = len(bounds) - 1
    for index, (begin, end) in enumerate(bounds):
        chunk = _blank(text[:begin]) + text[begin:end] + _blank(text[end:])
        start = "pack_header" if index == 0 and text[begin:].lstrip().startswith("pack") else "item"
        try:
            tree = lark_parser().parse(chunk, start=start)
            _Builder().transform(tree)
        except UnexpectedInput as exc:
            _report(collector, exc, chunk, start, final=index == last)
        except VisitError as exc:
            if isinstance(exc.orig_exc, _BuildError):
                collector.error(exc.orig_exc.span, "syntax", exc.orig_exc.message)
            else:
                raise
    if not collector.items:  # only reachable when chunking hides a cross-statement problem
        try:
            lark_parser().parse(text, start="start")
        except UnexpectedInput as exc:
            _report(collector, exc, text, "start")
    return collector.sorted()


def _first_code_offset(text: str) -> int:
    for m in re.finditer(r"[^\s]", text):
        if text[m.start()] == "#":
            continue
        line_start = text.rfind("\n", 0, m.start()) + 1
        if text[line_start : m.start()].strip() == "" and not _in_comment(text, m.start()):
            return m.start()
    return 0


def _in_comment(text: str, offset: int) -> bool:
    line_start = text.rfind("\n", 0, offset) + 1
    return "#" in text[line_start:offset]


def _blank(text: str) -> str:
    return re.sub(r"[^\n]", " ", text)


def _report(collector: Collector, exc: UnexpectedInput, text: str, start: str, final: bool = True) -> None:
    line, column = exc.line, exc.column
    if isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END"):
        line, column = _end_position(text)
        where = "unexpected end of file" if final else "this statement is incomplete"
        message = f"{where}; expected {describe_expected(exc.expected)}"
        width = 1
    elif isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream or 0
        char = text[pos] if pos < len(text) else ""
        message = _unexpected_character(char)
        width = 1
    else:
        assert isinstance(exc, UnexpectedToken)
        token = exc.token
        label = _match_example(exc, start)
        if label is None and token.type == "EQUAL":
            label = "'=' only names a let or a list; to compare use '=='"
        shown = str(token).replace("\n", " ")
        if label:
            message = label.format(token=shown)
        else:
            message = f"unexpected '{shown}'; expected {describe_expected(exc.accepts or exc.expected)}"
        width = max(1, len(str(token))) if "\n" not in str(token) else 1
    collector.error(ast.Span(line, column, line, column + width), "syntax", message)


@cache
def _example_states(start: str) -> tuple[tuple[str, Any, str, frozenset[str]], ...]:
    """Where each example mistake leaves the parser: (message, state, token type, accepted)."""
    found: list[tuple[str, Any, str, frozenset[str]]] = []
    for message, snippets in EXAMPLES.get(start, {}).items():
        for snippet in snippets:
            try:
                lark_parser().parse(snippet, start=start)
            except UnexpectedToken as exc:
                found.append((message, exc.state, exc.token.type, frozenset(exc.accepts or exc.expected)))
            except UnexpectedInput:
                continue
    return tuple(found)


def _match_example(exc: UnexpectedToken, start: str) -> str | None:
    """The message of the example that fails in the same parser state, preferring the same token.

    Lark's own ``match_examples`` does this too, but crashes on some states (a logging bug).
    """
    accepts = frozenset(exc.accepts or exc.expected)
    fallback = None
    for message, state, token_type, example_accepts in _example_states(start):
        if state != exc.state:
            continue
        if token_type == exc.token.type:
            return message
        if fallback is None and example_accepts == accepts:
            fallback = message
    return fallback


def _unexpected_character(char: str) -> str:
    if char == "'":
        return 'unexpected character "\'"; strings use double quotes'
    if char == '"':
        return "unterminated string: a string must close on the line it opens"
    if char == "=":
        return "unexpected '='; to compare use '=='"
    if char == "&" or char == "|":
        return f"unexpected '{char}'; use 'and' / 'or'"
    if char == "!":
        return "unexpected '!'; use 'not' (or '!=' to compare)"
    return f"unexpected character {char!r}"


def _end_position(text: str) -> tuple[int, int]:
    stripped = text.rstrip()
    line = stripped.count("\n") + 1
    column = len(stripped) - (stripped.rfind("\n") + 1) + 1
    return line, column


# ---------------------------------------------------------------- tree builder


class _BuildError(Exception):
    def __init__(self, span: ast.Span, message: str) -> None:
        super().__init__(message)
        self.span = span
        self.message = message


def _span(meta: Any) -> ast.Span:
    if getattr(meta, "empty", True):
        return ast.NO_SPAN
    return ast.Span(meta.line, meta.column, meta.end_line, meta.end_column)


def _tspan(token: Token) -> ast.Span:
    return ast.Span(token.line or 0, token.column or 0, token.end_line or 0, token.end_column or 0)


def unquote(token: str) -> str:
    """The value of a string literal; unknown escapes (``\\d`` in a regex) stay as written."""
    body = token[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
            if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2 : i + 6]):
                out.append(chr(int(body[i + 2 : i + 6], 16)))
                i += 6
                continue
        out.append(ch)
        i += 1
    return "".join(out)


def duration_seconds(text: str) -> float:
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d|w)", text)
    assert m is not None
    return int(m.group(1)) * _DURATION_UNITS[m.group(2)]


def _number(token: Token) -> int | float:
    if token.type != "DECIMAL":
        return int(token)
    value = float(token)
    if not math.isfinite(value):
        raise _BuildError(_tspan(token), f"the number {token[:20]}... is too large")
    return value


@v_args(meta=True)
class _Builder(Transformer[Token, Any]):
    """Turns Lark's parse tree into ``dsl.ast`` nodes."""

    # --- expressions
    def int_lit(self, meta: Any, c: list[Token]) -> ast.Literal:
        return ast.Literal(int(c[0]), span=_span(meta))

    def dec_lit(self, meta: Any, c: list[Token]) -> ast.Literal:
        return ast.Literal(_number(c[0]), span=_span(meta))

    def str_lit(self, meta: Any, c: list[Token]) -> ast.Literal:
        return ast.Literal(unquote(c[0]), span=_span(meta))

    def dur_lit(self, meta: Any, c: list[Token]) -> ast.Duration:
        return ast.Duration(duration_seconds(c[0]), str(c[0]), span=_span(meta))

    def true(self, meta: Any, c: list[Any]) -> ast.Literal:
        return ast.Literal(True, span=_span(meta))

    def false(self, meta: Any, c: list[Any]) -> ast.Literal:
        return ast.Literal(False, span=_span(meta))

    def null(self, meta: Any, c: list[Any]) -> ast.Literal:
        return ast.Literal(None, span=_span(meta))

    def event_ref(self, meta: Any, c: list[Any]) -> ast.Field:
        return ast.Field((), span=_span(meta))

    def score_ref(self, meta: Any, c: list[Any]) -> ast.ScoreRef:
        return ast.ScoreRef(span=_span(meta))

    def name_ref(self, meta: Any, c: list[Token]) -> ast.Name:
        return ast.Name(str(c[0]), span=_span(meta))

    def attr(self, meta: Any, c: list[Any]) -> ast.Field:
        base, name = c
        if not isinstance(base, ast.Field):
            raise _BuildError(_tspan(name), f"'.{name}' reads a field of the event: write 'event.{name}'")
        return ast.Field((*base.path, str(name)), (*base.segment_spans, _tspan(name)), span=_span(meta))

    def call(self, meta: Any, c: list[Any]) -> ast.Call:
        name, *args = c
        return ast.Call(
            str(name), tuple(a for a in args if a is not None), func_span=_tspan(name), span=_span(meta)
        )

    def arg(self, meta: Any, c: list[Any]) -> ast.Arg:
        return ast.Arg(c[0], span=_span(meta))

    def named_arg(self, meta: Any, c: list[Any]) -> ast.Arg:
        return ast.Arg(c[1], name=str(c[0]), span=_span(meta))

    def list_lit(self, meta: Any, c: list[Any]) -> ast.ListExpr:
        return ast.ListExpr(tuple(x for x in c if x is not None), span=_span(meta))

    def neg(self, meta: Any, c: list[Any]) -> ast.Expr:
        operand = c[1]
        if isinstance(operand, ast.Literal) and type(operand.value) in (int, float):
            return ast.Literal(-operand.value, span=_span(meta))  # type: ignore[operator]
        return ast.Unary("-", operand, span=_span(meta))

    def not_(self, meta: Any, c: list[Any]) -> ast.Unary:
        return ast.Unary("not", c[0], span=_span(meta))

    def and_(self, meta: Any, c: list[Any]) -> ast.Binary:
        return ast.Binary("and", c[0], c[1], span=_span(meta))

    def or_(self, meta: Any, c: list[Any]) -> ast.Binary:
        return ast.Binary("or", c[0], c[1], span=_span(meta))

    def arith(self, meta: Any, c: list[Any]) -> ast.Binary:
        return ast.Binary(str(c[1]), c[0], c[2], span=_span(meta))

    def compare(self, meta: Any, c: list[Any]) -> ast.Compare:
        return ast.Compare(str(c[1]), c[0], c[2], op_span=_tspan(c[1]), span=_span(meta))

    def in_(self, meta: Any, c: list[Any]) -> ast.Compare:
        return ast.Compare("in", c[0], c[1], span=_span(meta))

    def not_in(self, meta: Any, c: list[Any]) -> ast.Compare:
        return ast.Compare("not in", c[0], c[1], span=_span(meta))

    def matches(self, meta: Any, c: list[Any]) -> ast.Matches:
        return ast.Matches(c[0], unquote(c[1]), pattern_span=_tspan(c[1]), span=_span(meta))

    def between(self, meta: Any, c: list[Any]) -> ast.Between:
        return ast.Between(c[0], c[1], c[2], span=_span(meta))

    def is_null(self, meta: Any, c: list[Any]) -> ast.IsNull:
        return ast.IsNull(c[0], span=_span(meta))

    def is_not_null(self, meta: Any, c: list[Any]) -> ast.IsNull:
        return ast.IsNull(c[0], negated=True, span=_span(meta))

    def signed_number(self, meta: Any, c: list[Token]) -> int | float:
        value = _number(c[-1])
        return -value if len(c) == 2 and c[0] is not None else value

    # --- top level
    def start(self, meta: Any, c: list[Any]) -> ast.Pack:
        return ast.Pack(c[0], tuple(c[1:]), span=_span(meta))

    def pack_header(self, meta: Any, c: list[Any]) -> ast.PackHeader:
        title = unquote(c[2]) if c[2] is not None else None
        return ast.PackHeader(str(c[0]), str(c[1]), title, span=_span(meta))

    def on_stmt(self, meta: Any, c: list[Token]) -> ast.On:
        return ast.On(tuple(str(t) for t in c), tuple(_tspan(t) for t in c), span=_span(meta))

    def inline_list(self, meta: Any, c: list[Any]) -> ast.ListDef:
        return ast.ListDef(str(c[0]), items=c[1], name_span=_tspan(c[0]), span=_span(meta))

    def managed_list(self, meta: Any, c: list[Any]) -> ast.ListDef:
        return ast.ListDef(str(c[0]), managed=unquote(c[1]), name_span=_tspan(c[0]), span=_span(meta))

    def let_stmt(self, meta: Any, c: list[Any]) -> ast.Let:
        return ast.Let(str(c[0]), c[1], name_span=_tspan(c[0]), span=_span(meta))

    def risk_stmt(self, meta: Any, c: list[Token]) -> ast.RiskLevels:
        return ast.RiskLevels(_number(c[0]), _number(c[1]), _number(c[2]), span=_span(meta))

    def rule(self, meta: Any, c: list[Any]) -> ast.Rule:
        name, description, *clauses = c
        desc = unquote(description) if description is not None else None
        return ast.Rule(str(name), desc, tuple(clauses), name_span=_tspan(name), span=_span(meta))

    def when_clause(self, meta: Any, c: list[Any]) -> ast.When:
        return ast.When(c[0], span=_span(meta))

    def then_clause(self, meta: Any, c: list[Token]) -> ast.Then:
        return ast.Then(str(c[0]), span=_span(meta))

    def score_clause(self, meta: Any, c: list[Any]) -> ast.ScoreClause:
        return ast.ScoreClause(c[0], span=_span(meta))

    def severity_clause(self, meta: Any, c: list[Token]) -> ast.SeverityClause:
        return ast.SeverityClause(str(c[0]), span=_span(meta))

    def tags_clause(self, meta: Any, c: list[Token]) -> ast.Tags:
        return ast.Tags(tuple(str(t) for t in c), span=_span(meta))

    def case_clause(self, meta: Any, c: list[Any]) -> ast.CaseClause:
        return ast.CaseClause(unquote(c[0]), key=c[1], priority=c[2], span=_span(meta))

    def case_key(self, meta: Any, c: list[Any]) -> ast.Expr:
        expr: ast.Expr = c[0]
        return expr

    def case_priority(self, meta: Any, c: list[Token]) -> str:
        return str(c[0])

    def notify_clause(self, meta: Any, c: list[Token]) -> ast.NotifyClause:
        return ast.NotifyClause(unquote(c[0]), span=_span(meta))

    def mode_clause(self, meta: Any, c: list[Any]) -> ast.ModeShadow:
        return ast.ModeShadow(str(c[0]) if c and c[0] is not None else None, span=_span(meta))

    def id_clause(self, meta: Any, c: list[Token]) -> ast.RuleId:
        return ast.RuleId(unquote(c[0]), span=_span(meta))

    def explain_clause(self, meta: Any, c: list[Token]) -> ast.Explain:
        return ast.Explain(unquote(c[0]), template_span=_tspan(c[0]), span=_span(meta))

    def model(self, meta: Any, c: list[Any]) -> ast.Model:
        return ast.Model(str(c[0]), tuple(c[1:]), name_span=_tspan(c[0]), span=_span(meta))

    def model_kind(self, meta: Any, c: list[Token]) -> ast.ModelKind:
        return ast.ModelKind(str(c[0]), span=_span(meta))

    def model_features(self, meta: Any, c: list[Any]) -> ast.ModelFeatures:
        return ast.ModelFeatures(tuple(c), span=_span(meta))

    def model_label(self, meta: Any, c: list[Token]) -> ast.ModelLabel:
        return ast.ModelLabel(str(c[0]), span=_span(meta))

    def outcome(self, meta: Any, c: list[Any]) -> ast.OutcomeBlock:
        return ast.OutcomeBlock(tuple(c), span=_span(meta))

    def outcome_line(self, meta: Any, c: list[Any]) -> ast.OutcomeLine:
        return ast.OutcomeLine(str(c[0]), c[1], span=_span(meta))

    def test(self, meta: Any, c: list[Any]) -> ast.Test:
        return ast.Test(unquote(c[0]), tuple(c[1:]), span=_span(meta))

    def given_event(self, meta: Any, c: list[Any]) -> ast.GivenEvent:
        count, kind, after, every, fields = c
        return ast.GivenEvent(
            str(kind),
            count=int(count) if count is not None else None,
            after=after,
            every=every,
            fields=fields,
            kind_span=_tspan(kind),
            span=_span(meta),
        )

    def given_after(self, meta: Any, c: list[Token]) -> ast.Duration:
        return ast.Duration(duration_seconds(c[0]), str(c[0]), span=_tspan(c[0]))

    given_every = given_after

    def given_model(self, meta: Any, c: list[Any]) -> ast.GivenModel:
        return ast.GivenModel(unquote(c[0]), c[1], span=_span(meta))

    def given_ref(self, meta: Any, c: list[Any]) -> ast.GivenRef:
        return ast.GivenRef(str(c[0]), c[1], span=_span(meta))

    def test_list(self, meta: Any, c: list[Any]) -> ast.TestList:
        return ast.TestList(str(c[0]), c[1], span=_span(meta))

    def expect_outcome(self, meta: Any, c: list[Token]) -> ast.ExpectOutcome:
        return ast.ExpectOutcome(str(c[0]), span=_span(meta))

    def expect_hits(self, meta: Any, c: list[Token]) -> ast.ExpectHits:
        return ast.ExpectHits(tuple(str(t) for t in c), tuple(_tspan(t) for t in c), span=_span(meta))

    def expect_no_hits(self, meta: Any, c: list[Any]) -> ast.ExpectNoHits:
        return ast.ExpectNoHits(span=_span(meta))

    def expect_score(self, meta: Any, c: list[Any]) -> ast.ExpectScore:
        return ast.ExpectScore(str(c[0]), c[1], span=_span(meta))

    # --- test values
    def object(self, meta: Any, c: list[Any]) -> ast.ObjectValue:
        entries = [p for p in c if p is not None]
        seen: set[str] = set()
        for key, _, span in entries:
            if key in seen:
                raise _BuildError(span, f"field '{key}' given twice")
            seen.add(key)
        pairs = tuple((key, value) for key, value, _ in entries)
        return ast.ObjectValue(pairs, ast.Spans(tuple(span for _, _, span in entries)), span=_span(meta))

    def pair(self, meta: Any, c: list[Any]) -> tuple[str, Any, ast.Span]:
        return (str(c[0]), c[1], _tspan(c[0]))

    def string(self, meta: Any, c: list[Token]) -> str:
        return unquote(c[0])

    def array(self, meta: Any, c: list[Any]) -> tuple[Any, ...]:
        return tuple(c)

    def empty_array(self, meta: Any, c: list[Any]) -> tuple[Any, ...]:
        return ()

    def v_true(self, meta: Any, c: list[Any]) -> bool:
        return True

    def v_false(self, meta: Any, c: list[Any]) -> bool:
        return False

    def v_null(self, meta: Any, c: list[Any]) -> None:
        return None
