"""Three-valued logic and expression semantics, through ``load_pack`` and the ``Engine``.

Every expression ``E`` is compiled into a pack with three rules: ``t`` (``when E``),
``f`` (``when not (E)``) and ``n`` (``when (E) is null``). Exactly one of them must
fire, and which one is the value of ``E``: true, false or null. Each event is
evaluated twice, as a validated Struct and as a plain mapping, and both must agree.
"""

from __future__ import annotations

import functools
import time
import warnings
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.engine import Engine
from engine.events import event_from_dict
from engine.pack import CompiledPack, PackError, load_pack

TIMESTAMP = "2026-01-01T12:00:00+00:00"  # a Thursday


@functools.cache
def _pack(expr: str, kinds: str = "payment") -> CompiledPack:
    text = (
        f"pack tv 1.0.0\non {kinds}\n\n"
        f"rule t\n  when {expr}\n\n"
        f"rule f\n  when not ({expr})\n\n"
        f"rule n\n  when ({expr}) is null\n\n"
        "outcome\n  approve\n"
    )
    return load_pack(text)


def value_of(expr: str, fields: dict[str, Any], kind: str = "payment", kinds: str = "payment") -> bool | None:
    """The value of ``expr`` for one event with ``fields``: True, False or None (null)."""
    engine = Engine([_pack(expr, kinds)])
    data = {"kind": kind, "id": "e1", "timestamp": TIMESTAMP, **fields}
    results = []
    for event in (event_from_dict(data), dict(data)):
        hits = [h.rule for h in engine.evaluate(event).hits]
        assert len(hits) == 1, f"{expr!r} with {fields}: exactly one of t/f/n must fire, got {hits}"
        results.append({"t": True, "f": False, "n": None}[hits[0]])
    assert results[0] == results[1], f"Struct and mapping events disagree on {expr!r}: {results}"
    return results[0]


T, F, N = True, False, None
GEO = {"geo": {"lat": 52.52, "lon": 13.40}}

CASES: list[tuple[str, dict[str, Any], bool | None]] = [
    # comparisons with null do not hold, and neither do their negations
    ("event.amount > 10", {}, N),
    ("event.amount > 10", {"amount": 11.0}, T),
    ("event.amount > 10", {"amount": 10.0}, F),
    ("event.amount >= 10", {"amount": 10.0}, T),
    ("event.amount <= 10", {}, N),
    ("event.amount != 10", {}, N),
    ("event.amount == 10", {"amount": 10.0}, T),
    ('event.channel == "ecom"', {}, N),
    ('event.channel != "ecom"', {}, N),
    ('event.channel != "ecom"', {"channel": "pos"}, T),
    ("event.channel == event.ip_country", {"channel": "x"}, N),
    # not
    ("not event.card_present", {}, N),
    ("not event.card_present", {"card_present": False}, T),
    ("not (event.amount > 10)", {}, N),
    ("not not event.card_present", {"card_present": True}, T),
    ("event.card_present", {}, N),
    # and / or: false and null is false, true or null is true, otherwise null
    ("event.card_present and event.amount > 10", {"card_present": False}, F),
    ("event.amount > 10 and event.card_present", {"card_present": False}, F),
    ("event.card_present or event.amount > 10", {"card_present": True}, T),
    ("event.amount > 10 or event.card_present", {"card_present": True}, T),
    ("event.amount > 10 and event.card_present", {"card_present": True}, N),
    ("event.amount > 10 or event.card_present", {"card_present": False}, N),
    ("event.amount > 10 and event.amount < 20", {}, N),
    ("event.amount > 10 or event.amount < 20", {}, N),
    ("event.card_present and event.amount > 10", {"card_present": True, "amount": 11.0}, T),
    ("event.card_present or event.amount > 10", {"card_present": False, "amount": 1.0}, F),
    ("not (event.amount > 10 and event.card_present)", {"card_present": False}, T),
    # is null / is not null are the only tests for null
    ("event.amount is null", {}, T),
    ("event.amount is null", {"amount": 0.0}, F),
    ("event.amount is not null", {}, F),
    ("event.amount is not null", {"amount": 0.0}, T),
    ("event.card_present is null", {"card_present": False}, F),
    ("event.geo is null", {}, T),
    ("event.geo.lat is null", {}, T),
    ("event.geo.lat > 50", {}, N),
    ("event.geo.lat > 50", GEO, T),
    # between is inclusive at both ends
    ("event.amount between 10 and 20", {"amount": 10.0}, T),
    ("event.amount between 10 and 20", {"amount": 20.0}, T),
    ("event.amount between 10 and 20", {"amount": 15.0}, T),
    ("event.amount between 10 and 20", {"amount": 9.99}, F),
    ("event.amount between 10 and 20", {"amount": 20.01}, F),
    ("event.amount between 10 and 20", {}, N),
    ("event.amount between event.account_age_days and 20", {"amount": 5.0}, N),
    ("event.amount between 0 and event.account_age_days", {"amount": 5.0, "account_age_days": 5}, T),
    ('event.channel between "a" and "f"', {"channel": "ecom"}, T),
    # in / not in
    ('event.mcc in ["5967", "7995"]', {"mcc": "5967"}, T),
    ('event.mcc in ["5967", "7995"]', {"mcc": "1234"}, F),
    ('event.mcc in ["5967", "7995"]', {}, N),
    ('event.mcc not in ["5967", "7995"]', {"mcc": "1234"}, T),
    ('event.mcc not in ["5967", "7995"]', {"mcc": "5967"}, F),
    ('event.mcc not in ["5967", "7995"]', {}, N),
    ("event.account_age_days in [1, 2, 3]", {"account_age_days": 2}, T),
    ("event.amount in [1, 2]", {"amount": 2.0}, T),
    ('event.mcc in [event.channel, "x"]', {"mcc": "pos", "channel": "pos"}, T),
    ("event.mcc in []", {"mcc": "1"}, F),
    # arithmetic with null is null; division and modulo by zero are null
    ("event.amount + 1 > 10", {}, N),
    ("event.amount * 2 == 20", {"amount": 10.0}, T),
    ("event.amount - event.account_age_days == 3", {"amount": 5.0}, N),
    ("event.amount / 0 is null", {"amount": 5.0}, T),
    ("event.amount / 0 > 1", {"amount": 5.0}, N),
    ("event.amount / 0.0 is null", {"amount": 5.0}, T),
    ("event.amount % 0 is null", {"amount": 5.0}, T),
    ("event.amount / 2 == 2.5", {"amount": 5.0}, T),
    ("event.account_age_days / 2 == 1.5", {"account_age_days": 3}, T),
    ("event.amount % 3 == 2", {"amount": 5.0}, T),
    ("-event.amount < 0", {"amount": 5.0}, T),
    ("-event.amount < 0", {}, N),
    ("event.amount + 1 is null", {}, T),
    # precedence
    ("1 + 2 * 3 == 7", {}, T),
    ("(1 + 2) * 3 == 9", {}, T),
    ("10 - 2 - 3 == 5", {}, T),
    ("10 - (2 - 3) == 11", {}, T),
    ("2 * 3 % 4 == 2", {}, T),
    ("-2 * 3 == -6", {}, T),
    ("2 - -3 == 5", {}, T),
    ("event.amount > 1 or event.amount < 0 and false", {"amount": 5.0}, T),
    ("(event.amount > 1 or event.amount < 0) and false", {"amount": 5.0}, F),
    # durations are seconds
    ("1h == 60m", {}, T),
    ("1d == 24h", {}, T),
    ("1w == 7d", {}, T),
    ("90s > 1m", {}, T),
    ("500ms < 1s", {}, T),
    ("1h + 30m == 90m", {}, T),
    ("2 * 1h == 2h", {}, T),
    ("1h / 30m == 2", {}, T),
    ("-1h < 0s", {}, T),
    # strings and built-ins
    ('"ab" + "cd" == "abcd"', {}, T),
    ('event.channel < "f"', {"channel": "ecom"}, T),
    ('lower(event.channel) == "ecom"', {"channel": "ECOM"}, T),
    ('lower(event.channel) == "ecom"', {}, N),
    ('upper(event.channel) == "POS"', {"channel": "pos"}, T),
    ("len(event.channel) == 4", {"channel": "ecom"}, T),
    ("len(event.channel) == 4", {}, N),
    ("abs(event.amount) == 5", {"amount": -5.0}, T),
    ("min(event.amount, 3, 4) == 3", {"amount": 5.0}, T),
    ("max(event.amount, 3) == 5", {"amount": 5.0}, T),
    ("min(event.amount, 3) == 3", {}, N),
    ("log(event.amount) is null", {"amount": 0.0}, T),
    ("log(event.amount) < 0", {"amount": 0.5}, T),
    ("hour(event.timestamp) == 12", {}, T),
    ("weekday(event.timestamp) == 3", {}, T),
    ("distance_km(event.geo.lat, event.geo.lon, 52.52, 13.40) < 1", GEO, T),
    ("distance_km(event.geo.lat, event.geo.lon, 48.85, 2.35) between 870 and 890", GEO, T),
    ("distance_km(event.geo.lat, event.geo.lon, 48.85, 2.35) > 1", {}, N),
    ('event.ip matches "0\\.113"', {}, N),
    # attributes are typed 'any'
    ("event.attributes.x == 5", {"attributes": {"x": 5}}, T),
    ('event.attributes.x == "5"', {"attributes": {"x": 5}}, F),
    ("event.attributes.missing is null", {"attributes": {}}, T),
    ("event.attributes.missing == 1", {}, N),
    ('event.attributes.a.b == "c"', {"attributes": {"a": {"b": "c"}}}, T),
    ("event.attributes.x > 1", {"attributes": {"x": 2}}, T),
    ("event.attributes.x > 1", {"attributes": {"x": "abc"}}, N),
    ("event.attributes.x + 1 is null", {"attributes": {"x": "abc"}}, T),
    ("event.attributes.x in [1, 2]", {"attributes": {"x": 2}}, T),
    ("event.attributes.x in [1, 2]", {"attributes": {"x": [1]}}, N),
    ('event.attributes.x matches "a"', {"attributes": {"x": 5}}, N),
]


REGEX_CASES: list[tuple[str, dict[str, Any], bool | None]] = [
    # regular expressions are searched anywhere in the string (RE2 syntax)
    ('event.ip matches "0\\.113"', {"ip": "203.0.113.9"}, T),
    ('event.ip matches "^0"', {"ip": "203.0.113.9"}, F),
    ('event.ip matches "9$"', {"ip": "203.0.113.9"}, T),
    ('event.ip matches "^203\\.0\\.113\\.9$"', {"ip": "203.0.113.9"}, T),
    ('event.channel matches "(?i)^ECOM$"', {"channel": "ecom"}, T),
    ('event.channel matches "\\d+"', {"channel": "pos"}, F),
    ('not (event.ip matches "^10\\.")', {"ip": "203.0.113.9"}, T),
    ('event.attributes.x matches "b"', {"attributes": {"x": "abc"}}, T),
]

MATCHES_BUG = (
    "dsl/compiler.py _Emitter.truth/falsity (Matches): `subject, pattern = self.operand(expr.subject), "
    "...` binds subject to the (code, binding) tuple returned by operand(), so the generated test is "
    "`isinstance(('f_ip', None), str) and ...`, which is always False: `matches` is null for every "
    'event and a rule `when event.ip matches "0\\.113"` never fires (nor does its negation)'
)


@pytest.mark.parametrize(("expr", "fields", "expected"), REGEX_CASES, ids=[c[0] for c in REGEX_CASES])
def test_regex_is_searched_anywhere(expr: str, fields: dict[str, Any], expected: bool | None) -> None:
    assert value_of(expr, fields) is expected


@pytest.mark.parametrize(
    ("expr", "fields", "expected"), CASES, ids=[f"{i}:{c[0]}" for i, c in enumerate(CASES)]
)
def test_value(expr: str, fields: dict[str, Any], expected: bool | None) -> None:
    assert value_of(expr, fields) is expected


MULTI = """pack multi 1.0.0
on payment, login

let good_login = event.kind == "login" and event.success

rule login_ok
  when event.kind == "login" and event.success

rule not_login_ok
  when not (event.kind == "login" and event.success)

rule via_let
  when good_login

rule big_payment_or_login
  when event.kind == "login" or event.amount > 100

outcome
  approve
"""


def _multi_hits(data: dict[str, Any], text: str = MULTI) -> list[list[str]]:
    engine = Engine([load_pack(text)])
    full = {"id": "e1", "timestamp": TIMESTAMP, **data}
    return [[h.rule for h in engine.evaluate(ev).hits] for ev in (event_from_dict(full), dict(full))]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"kind": "login", "success": True}, ["login_ok", "via_let", "big_payment_or_login"]),
        ({"kind": "login", "success": False}, ["not_login_ok", "big_payment_or_login"]),
        ({"kind": "login"}, ["big_payment_or_login"]),
        ({"kind": "payment", "amount": 500.0}, ["not_login_ok", "big_payment_or_login"]),
        ({"kind": "payment", "amount": 5.0}, ["not_login_ok"]),
        ({"kind": "payment"}, ["not_login_ok"]),
    ],
)
def test_kind_narrowing_in_a_multi_kind_pack(data: dict[str, Any], expected: list[str]) -> None:
    assert _multi_hits(data) == [expected, expected]


def test_narrowed_let_used_as_a_value() -> None:
    text = MULTI.replace("rule via_let\n  when good_login", "rule via_let\n  when good_login == true")
    assert _multi_hits({"kind": "payment", "amount": 5.0}, text) == [["not_login_ok"], ["not_login_ok"]]


def test_a_regex_cannot_stall_the_engine() -> None:
    """RE2 is linear: a pattern that backtracks exponentially elsewhere returns at once."""
    evil = "a" * 100_000 + "!"
    started = time.perf_counter()
    assert value_of('event.merchant_id matches "^(a+)+$"', {"merchant_id": evil}) is F
    assert time.perf_counter() - started < 2.0


# ---------------------------------------------------------------- known bugs


def test_between_on_unorderable_any_value_is_null() -> None:
    assert value_of("event.attributes.x between 1 and 5", {"attributes": {"x": "abc"}}) is N


def test_negating_a_non_number_attribute_is_null() -> None:
    assert value_of("-event.attributes.x < 0", {"attributes": {"x": "abc"}}) is N


@pytest.mark.parametrize(
    ("expr", "attrs"),
    [
        ('lower(event.attributes.x) == "a"', {"x": 5}),
        ("abs(event.attributes.x) > 1", {"x": "s"}),
        ("log(event.attributes.x) > 1", {"x": "s"}),
        ("hour(event.attributes.x) == 1", {"x": "2026-01-01T01:00:00Z"}),
    ],
)
def test_builtins_on_wrongly_typed_attributes_are_null(expr: str, attrs: dict[str, Any]) -> None:
    assert value_of(expr, {"attributes": attrs}) is N


@pytest.mark.parametrize(
    "expr", ["event.timestamp - event.timestamp < 1h", "event.timestamp + 1h > event.timestamp"]
)
def test_timestamp_arithmetic(expr: str) -> None:
    assert value_of(expr, {}) is T


def test_a_decimal_beyond_floating_point_is_rejected() -> None:
    # a literal that would overflow to infinity is an error at check time, never code that fails later
    with pytest.raises(PackError, match="too large"):
        load_pack(
            "pack w 1.0.0\non payment\nrule r\n  when event.amount < 1"
            + "0" * 400
            + ".0\noutcome\n  approve\n"
        )


def test_is_null_on_a_literal_compiles_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_pack("pack w 1.0.0\non payment\nrule r\n  when 1 is null\noutcome\n  approve\n")


# ---------------------------------------------------------------- property: a reference evaluator

_NUM_FIELDS = ("amount", "account_age_days")


def _num_operand() -> st.SearchStrategy[tuple[str, Any]]:
    """(source, python value) of a number operand; None is null."""
    field = st.sampled_from(_NUM_FIELDS).map(lambda f: (f"event.{f}", ("field", f)))
    lit = st.integers(-3, 3).map(lambda n: (str(n), ("lit", n)))
    return st.one_of(field, lit)


def _arith() -> st.SearchStrategy[tuple[str, Any]]:
    return st.one_of(
        _num_operand(),
        st.tuples(_num_operand(), st.sampled_from(["+", "-", "*", "/", "%"]), _num_operand()).map(
            lambda t: (f"({t[0][0]} {t[1]} {t[2][0]})", ("op", t[1], t[0][1], t[2][1]))
        ),
    )


def _atom_bool() -> st.SearchStrategy[tuple[str, Any]]:
    compare = st.tuples(_arith(), st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), _arith()).map(
        lambda t: (f"{t[0][0]} {t[1]} {t[2][0]}", ("cmp", t[1], t[0][1], t[2][1]))
    )
    is_null = st.tuples(_arith(), st.booleans()).map(
        lambda t: (f"{t[0][0]} is {'not ' if t[1] else ''}null", ("isnull", t[1], t[0][1]))
    )
    between = st.tuples(_arith(), _arith(), _arith()).map(
        lambda t: (f"{t[0][0]} between {t[1][0]} and {t[2][0]}", ("between", t[0][1], t[1][1], t[2][1]))
    )
    flag = st.just(("event.card_present", ("flag",)))
    in_list = st.tuples(_arith(), st.lists(st.integers(-3, 3), max_size=3), st.booleans()).map(
        lambda t: (
            f"{t[0][0]} {'not in' if t[2] else 'in'} [{', '.join(map(str, t[1]))}]",
            ("in", t[2], t[0][1], tuple(t[1])),
        )
    )
    return st.one_of(compare, is_null, between, flag, in_list)


_bool_expr = st.recursive(
    _atom_bool(),
    lambda inner: st.one_of(
        inner.map(lambda e: (f"not ({e[0]})", ("not", e[1]))),
        st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(
            lambda t: (f"({t[0][0]}) {t[1]} ({t[2][0]})", (t[1], t[0][1], t[2][1]))
        ),
    ),
    max_leaves=5,
)


def _num(node: Any, ev: dict[str, Any]) -> Any:
    tag = node[0]
    if tag == "field":
        return ev.get(node[1])
    if tag == "lit":
        return node[1]
    _, op, a, b = node
    x, y = _num(a, ev), _num(b, ev)
    if x is None or y is None:
        return None
    if op in "/%" and y == 0:
        return None
    return {"+": x + y, "-": x - y, "*": x * y}.get(op) if op in "+-*" else (x / y if op == "/" else x % y)


def _ref(node: Any, ev: dict[str, Any]) -> bool | None:
    """SQL three-valued logic, written independently of the compiler."""
    tag = node[0]
    if tag == "flag":
        return ev.get("card_present")
    if tag == "cmp":
        x, y = _num(node[2], ev), _num(node[3], ev)
        if x is None or y is None:
            return None
        return {"==": x == y, "!=": x != y, "<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[node[1]]
    if tag == "isnull":
        is_null = _num(node[2], ev) is None
        return not is_null if node[1] else is_null
    if tag == "between":
        x, lo, hi = (_num(n, ev) for n in node[1:])
        return None if None in (x, lo, hi) else lo <= x <= hi
    if tag == "in":
        x = _num(node[2], ev)
        if x is None:
            return None
        inside = x in node[3]
        return not inside if node[1] else inside
    if tag == "not":
        inner = _ref(node[1], ev)
        return None if inner is None else not inner
    left, right = _ref(node[1], ev), _ref(node[2], ev)
    if tag == "and":
        if left is False or right is False:
            return False
        return None if None in (left, right) else True
    if left is True or right is True:
        return True
    return None if None in (left, right) else False


_event_fields = st.fixed_dictionaries(
    {},
    optional={
        "amount": st.integers(-3, 3).map(float),
        "account_age_days": st.integers(-3, 3),
        "card_present": st.booleans(),
    },
)


@pytest.mark.filterwarnings(
    "ignore::SyntaxWarning"
)  # see test_is_null_on_a_literal_compiles_without_warnings
@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(expr=_bool_expr, events=st.lists(_event_fields, min_size=1, max_size=6))
def test_compiled_logic_matches_a_reference_evaluator(
    expr: tuple[str, Any], events: list[dict[str, Any]]
) -> None:
    source, tree = expr
    for fields in events:
        assert value_of(source, fields) is _ref(tree, fields), (source, fields)
