"""The grammar and the parser: strict build, tree shape, spans, literals and syntax errors."""

from __future__ import annotations

from pathlib import Path

import lark
import pytest

from dsl import ast
from dsl.formatter import format_pack
from dsl.parser import ParseFailure, duration_seconds, lark_parser, parse, unquote

EXAMPLES = sorted(Path("/work/shared/dsl/examples").glob("*.rules"))
RULEPACKS = sorted((Path(__file__).resolve().parents[2] / "rulepacks").glob("*.rules"))


def test_grammar_builds_with_lark_strict() -> None:
    """strict=True turns any shift/reduce conflict or terminal collision into an error."""
    parser = lark_parser(strict=True)
    assert isinstance(parser, lark.Lark)
    assert parser.options.parser == "lalr"
    assert parser.options.lexer == "contextual"
    assert parser.options.propagate_positions is True


@pytest.mark.parametrize("path", EXAMPLES + RULEPACKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_strict_and_default_parsers_agree(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert lark_parser(strict=True).parse(text, start="start") == lark_parser().parse(text, start="start")


def let_expr(source: str) -> ast.Expr:
    (item,) = parse(f"pack x 1.0.0\nlet v = {source}\n").items
    assert isinstance(item, ast.Let)
    return item.expr


def N(name: str) -> ast.Name:
    return ast.Name(name)


def L(value: object) -> ast.Literal:
    return ast.Literal(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("source", "tree"),
    [
        ("a or b and c", ast.Binary("or", N("a"), ast.Binary("and", N("b"), N("c")))),
        ("a and b or c", ast.Binary("or", ast.Binary("and", N("a"), N("b")), N("c"))),
        ("not a and b", ast.Binary("and", ast.Unary("not", N("a")), N("b"))),
        ("not a == b", ast.Unary("not", ast.Compare("==", N("a"), N("b")))),
        ("a + b * c", ast.Binary("+", N("a"), ast.Binary("*", N("b"), N("c")))),
        ("a - b - c", ast.Binary("-", ast.Binary("-", N("a"), N("b")), N("c"))),
        ("-a * b", ast.Binary("*", ast.Unary("-", N("a")), N("b"))),
        ("-5", L(-5)),
        ("-2.5", L(-2.5)),
        ("- -5", L(5)),
        ('a in [1, "x", null]', ast.Compare("in", N("a"), ast.ListExpr((L(1), L("x"), L(None))))),
        ("a not in b", ast.Compare("not in", N("a"), N("b"))),
        ("a between 1 and 2 and c", ast.Binary("and", ast.Between(N("a"), L(1), L(2)), N("c"))),
        ("a is not null", ast.IsNull(N("a"), negated=True)),
        ('a matches "^x\\d"', ast.Matches(N("a"), "^x\\d")),
        ("score >= 40", ast.Compare(">=", ast.ScoreRef(), L(40))),
        (
            "f(a, w: 1h)",
            ast.Call("f", (ast.Arg(N("a")), ast.Arg(ast.Duration(3600, "1h"), name="w"))),
        ),
        ("f()", ast.Call("f", ())),
        ("true != false", ast.Compare("!=", L(True), L(False))),
    ],
)
def test_tree_shape(source: str, tree: ast.Expr) -> None:
    assert let_expr(source) == tree


def test_fields_and_their_spans() -> None:
    text = "pack x 1.0.0\nlet v = event.geo.lat\n"
    expr = let_expr("event.geo.lat")
    assert isinstance(expr, ast.Field)
    assert expr.path == ("geo", "lat")
    spans = [(s.line, s.column, s.end_column) for s in expr.segment_spans]
    assert spans == [(2, 15, 18), (2, 19, 22)]
    assert text.splitlines()[1][14:17] == "geo"


@pytest.mark.parametrize("name", ["kind", "score", "key", "id", "label", "model", "rule", "null", "true"])
def test_keywords_are_field_names_after_event(name: str) -> None:
    assert let_expr(f"event.{name}") == ast.Field((name,), (ast.NO_SPAN,))


def test_model_is_a_call() -> None:
    assert let_expr('model("card_risk") > 0.8') == ast.Compare(
        ">", ast.Call("model", (ast.Arg(L("card_risk")),)), L(0.8)
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("30s", 30), ("5m", 300), ("1h", 3600), ("7d", 604800), ("2w", 1209600), ("0s", 0)],
)
def test_durations(text: str, seconds: float) -> None:
    assert duration_seconds(text) == seconds
    assert let_expr(text) == ast.Duration(seconds, text)


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        (r'"plain"', "plain"),
        (r'"q\"uote"', 'q"uote'),
        (r'"back\\slash"', "back\\slash"),
        (r'"new\nline\ttab\rcr"', "new\nline\ttab\rcr"),
        (r'"\u00e9\u0041"', "éA"),
        (r'"\d+\.\w"', r"\d+\.\w"),  # unknown escapes stay as written (regexes)
        (r'"\u12"', r"\u12"),
        ('"ünïcödé ✓"', "ünïcödé ✓"),
        ('""', ""),
    ],
)
def test_string_escapes(literal: str, value: str) -> None:
    assert unquote(literal) == value
    assert let_expr(literal) == L(value)


def test_a_whole_pack() -> None:
    text = """# a comment
pack cards 2.1.0-rc.1+b7 "Card payments"
on payment, login

list risky = ["5967"]
list blocked = managed "blocked_ips"
let cnp = event.channel == "ecom"
risk medium 20 high 40.5 critical 90

rule r "desc"
  id "FR-1"
  severity high
  tags a, b
  when cnp and
       event.amount > 10   # a long when over two lines
  then review
  score -5.5
  case queue "cards" key event.card_id priority urgent
  notify "slack"
  mode shadow until 2026-12-31
  explain "amount {event.amount}"

model card_risk
  kind classifier
  features event.amount, log(event.amount + 1)
  label fraud

outcome
  block when score >= 80
  approve

test "t"
  lists blocked = ["1.2.3.4"]
  given 3 payment after 5m every 1m { amount: -5.0, geo: { lat: 1.5, lon: 2 }, tags: [], ok: true, n: null }
  given model "card_risk" = 0.81
  given ref vehicles { id: "v7", tank_liters: 60 }
  expect review
  expect hits r, q
  expect no hits
  expect score >= 40
"""
    pack = parse(text)
    assert pack.header == ast.PackHeader("cards", "2.1.0-rc.1+b7", "Card payments")
    kinds = [type(i).__name__ for i in pack.items]
    assert kinds == ["On", "ListDef", "ListDef", "Let", "RiskLevels", "Rule", "Model", "OutcomeBlock", "Test"]
    rule = pack.of_type(ast.Rule)[0]
    assert [type(c).__name__ for c in rule.clauses] == [
        "RuleId",
        "SeverityClause",
        "Tags",
        "When",
        "Then",
        "ScoreClause",
        "CaseClause",
        "NotifyClause",
        "ModeShadow",
        "Explain",
    ]
    assert rule.clauses[5] == ast.ScoreClause(-5.5)
    assert rule.clauses[8] == ast.ModeShadow("2026-12-31")
    assert pack.of_type(ast.RiskLevels)[0] == ast.RiskLevels(20, 40.5, 90)
    test = pack.of_type(ast.Test)[0]
    given = test.clauses[1]
    assert isinstance(given, ast.GivenEvent)
    assert (given.kind, given.count, given.after, given.every) == (
        "payment",
        3,
        ast.Duration(300, "5m"),
        ast.Duration(60, "1m"),
    )
    assert given.fields == ast.ObjectValue(
        (
            ("amount", -5.0),
            ("geo", ast.ObjectValue((("lat", 1.5), ("lon", 2)))),
            ("tags", ()),
            ("ok", True),
            ("n", None),
        )
    )
    assert test.clauses[2] == ast.GivenModel("card_risk", 0.81)
    assert test.clauses[-1] == ast.ExpectScore(">=", 40)
    formatted = format_pack(pack, text)
    assert "# a long when over two lines" in formatted
    assert parse(formatted) == pack


# ---------------------------------------------------------------- syntax errors


def syntax_errors(text: str) -> list[tuple[int, int, str]]:
    with pytest.raises(ParseFailure) as info:
        parse(text)
    diags = info.value.diagnostics
    assert all(d.severity == "error" and d.code == "syntax" for d in diags)
    return [(d.line, d.column, d.message) for d in diags]


def test_every_statement_with_an_error_is_reported() -> None:
    text = (
        "pack x 1.0.0\non payment\n"
        "let a = (1 + \n"
        "let b = 1 +\n"
        "rule r\n  when a >\n"
        "rule s\n  when b\n"
        "list l = [1 2]\n"
    )
    assert [line for line, _, _ in syntax_errors(text)] == [3, 4, 6, 9]


def test_error_in_the_header_and_in_the_body() -> None:
    errors = syntax_errors("pack 5\non payment\nrule\n  when a\n")
    assert [(line, col) for line, col, _ in errors] == [(1, 6), (4, 3)]


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ('pack x 1.0.0\nrule r\n  when a > "x\n', (3, 12), "unterminated string"),
        ("pack x 1.0.0\nrule r\n  when a ! b\n", (3, 10), "use 'not'"),
        ("pack x 1.0.0\nrule r\n  when a || b\n", (3, 10), "use 'and' / 'or'"),
        (
            "pack x 1.0.0\nrule r\n  when a > 1\n  severity urgent\n",
            (4, 12),
            "expected low, medium, high or critical",
        ),
        ("pack x 1.0.0\nlet = 1\n", (2, 5), "a 'let' reads"),
        ("pack x 1.0.0\nlist x = 1\n", (2, 10), "a 'list' reads"),
        ("pack x 1.0.0\non 5\n", (2, 4), "'on' takes event kinds"),
        ("pack x 1.0.0\ntest t\n", (2, 6), "a test needs a name in double quotes"),
        ('pack x 1.0.0\ntest "t"\n  expect allow\n', (3, 10), "'expect' takes"),
        (
            'pack x 1.0.0\ntest "t"\n  given payment { amount 5 }\n',
            (3, 26),
            "a field in a test reads 'name: value'",
        ),
        (
            "pack x 1.0.0\noutcome\n  allow\n",
            (3, 3),
            "an 'outcome' line starts with approve, review or block",
        ),
        ("pack x 1.0.0\nlet v = a matches b\n", (2, 19), "'matches' takes a regular expression"),
        ("pack x 1.0.0\nlet v = [1, 2\n", (2, 14), "unexpected end of file"),
        ("pack x 1.0.0\nrule r\n  case cards\n", (3, 8), "a 'case' clause reads"),
        ('pack x 1.0.0\nrule r\n  case queue "q" priority critical\n', (3, 27), "'priority' takes"),
    ],
)
def test_friendly_syntax_errors(text: str, position: tuple[int, int], fragment: str) -> None:
    ((line, column, message),) = syntax_errors(text)
    assert (line, column) == position, message
    assert fragment in message
