"""The checker beyond the snapshots: narrowing, kinds of detectors, warnings, and the shipped packs."""

from __future__ import annotations

from pathlib import Path

import pytest

from dsl.checker import check
from dsl.diagnostics import Diagnostic, Source
from dsl.parser import parse
from dsl.types import KEY, NUMBER, FunctionSig, Param
from engine.catalog import environment
from engine.pack import PackError, load_pack
from engine.testing import run_tests

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = Path("/work/shared/dsl/examples")
OUTCOME = "\noutcome\n  review when score >= 40\n  approve\n"


def diagnostics(text: str) -> list[Diagnostic]:
    try:
        return load_pack(text, "p.rules").diagnostics
    except PackError as exc:
        return exc.diagnostics


def errors(text: str) -> list[tuple[int, int, str]]:
    return [(d.line, d.column, d.message) for d in diagnostics(text) if d.severity == "error"]


def warnings(text: str) -> list[tuple[str, str]]:
    return [(d.code, d.message) for d in diagnostics(text) if d.severity == "warning"]


def multi(when: str, head: str = "") -> str:
    return f"pack m 1.0.0\non payment, login\n{head}\nrule r\n  when {when}\n  score 1\n{OUTCOME}"


# ---------------------------------------------------------------- kinds and narrowing


def test_a_field_missing_on_one_kind_is_an_error() -> None:
    assert errors(multi("event.amount > 10")) == [(5, 14, "unknown field 'amount' on login")]
    assert errors(multi("event.success")) == [(5, 14, "unknown field 'success' on payment")]


@pytest.mark.parametrize(
    ("when", "head"),
    [
        ('event.kind == "payment" and event.amount > 10', ""),
        ('event.kind == "login" and event.success and not event.mfa_used', ""),
        ('event.kind in ["payment"] and event.amount > 10', ""),
        ('event.kind != "login" and event.amount > 10', ""),
        ('not (event.kind == "login") and event.amount > 10', ""),
        ('event.kind == "login" or event.amount > 10', ""),
        ('(event.kind == "login" and event.success) or (event.kind == "payment" and event.amount > 1)', ""),
        ("is_login and event.success", 'let is_login = event.kind == "login"\n'),
        ("ok", 'let ok = event.kind == "login" and event.success\n'),
    ],
)
def test_narrowing_accepts_a_field_of_one_kind(when: str, head: str) -> None:
    assert errors(multi(when, head)) == []


def test_narrowing_must_come_first() -> None:
    """`X and event.kind == ...` does not narrow X."""
    assert errors(multi('event.amount > 10 and event.kind == "payment"')) == [
        (5, 14, "unknown field 'amount' on login")
    ]


def _env_with_login_only_detector():  # type: ignore[no-untyped-def]
    env = environment()
    sig = FunctionSig("login_burst", (Param("key", KEY),), NUMBER, kinds=frozenset({"login"}), stateful=True)
    env.functions["login_burst"] = sig
    return env


def _check(text: str) -> list[tuple[int, int, str]]:
    _, diags = check(parse(text), _env_with_login_only_detector(), Source("p.rules", text))
    return [(d.line, d.column, d.message) for d in diags if d.severity == "error"]


def test_a_detector_used_on_a_kind_it_cannot_serve() -> None:
    assert _check(multi("login_burst(event.device_id) > 3")) == [
        (
            5,
            8,
            "'login_burst' cannot serve payment events (only login); "
            'narrow with event.kind == "login" and ...',
        )
    ]
    assert _check(multi('event.kind == "login" and login_burst(event.device_id) > 3')) == []


def test_a_named_list_of_durations() -> None:
    text = f"pack p 1.0.0\non payment\nlist windows = [1h, 2h]\nrule r\n  when 30m * 2 in windows\n{OUTCOME}"
    assert errors(text) == []


def test_an_inline_list_of_durations() -> None:
    assert errors(f"pack p 1.0.0\non payment\nrule r\n  when 60m in [1h, 2h]\n{OUTCOME}") == []


# ---------------------------------------------------------------- all at once, once each


def test_every_error_is_reported_at_once_in_source_order() -> None:
    text = (
        "pack p 1.0.0\non payment\n\n"
        "rule a\n  when event.amout > 1\n\n"
        "rule b\n  when event.channel == 5\n\n"
        "rule c\n  when velocty(event.card_id, 1h) > 1\n" + OUTCOME
    )
    assert [(line, col) for line, col, _ in errors(text)] == [(5, 14), (8, 22), (11, 8)]


def test_an_unknown_field_is_reported_once() -> None:
    """A node that fails gets the type 'any': no cascade of type errors around it."""
    text = f'pack p 1.0.0\non payment\nrule a\n  when event.amout > "x" and not event.amout\n{OUTCOME}'
    assert errors(text) == [
        (4, 14, "unknown field 'amout' on payment; did you mean 'amount'?"),
        (4, 40, "unknown field 'amout' on payment; did you mean 'amount'?"),
    ]


# ---------------------------------------------------------------- warnings


def test_warnings() -> None:
    text = (
        "pack p 1.0.0\non payment, payment\n\n"
        'list unused_list = ["a"]\n'
        "let unused_let = event.amount > 1\n\n"
        'rule never\n  when event.kind == "login"\n  score 1\n\n'
        "rule forcing\n  tags a, a\n  when event.amount > 100\n  then block\n\n"
        "rule half_tested\n  when event.amount > 50\n  then review\n\n"
        "outcome\n  approve\n  review when score > 1\n\n"
        'test "fires"\n  given payment { amount: 60.0 }\n  expect hits half_tested\n\n'
        'test "nothing expected"\n  given payment { amount: 1.0 }\n'
    )
    got = warnings(text)
    assert got == [
        ("duplicate", "event kind 'payment' is listed twice"),
        ("unused", "list 'unused_list' is never used"),
        ("unused", "let 'unused_let' is never used"),
        ("never-fires", "rule 'never' can never fire: its condition is always false"),
        (
            "untested",
            "rule 'forcing' forces block but has no test where it fires (use expect hits / expect no hits)",
        ),
        ("duplicate", "rule 'forcing' repeats a tag"),
        (
            "untested",
            "rule 'half_tested' forces review but has no test where it does not fire (use expect hits / expect no hits)",
        ),
        ("unreachable", "this outcome line is never reached: the line above always holds"),
        ("test", "test 'nothing expected' expects nothing"),
    ]
    assert errors(text) == []


@pytest.mark.parametrize("when", ["null", "1 > 2", '"a" == "b"'])
def test_a_constant_condition_that_never_holds_is_warned(when: str) -> None:
    text = f"pack p 1.0.0\non payment\nrule r\n  when {when}\n{OUTCOME}"
    assert ("never-fires", "rule 'r' can never fire: its condition is always false") in warnings(text)


def test_a_tested_forcing_rule_has_no_warning() -> None:
    text = (
        "pack p 1.0.0\non payment\n\nrule big\n  when event.amount > 100\n  then block\n"
        f"{OUTCOME}\n"
        'test "big"\n  given payment { amount: 500.0 }\n  expect hits big\n\n'
        'test "small"\n  given payment { amount: 5.0 }\n  expect no hits\n'
    )
    assert diagnostics(text) == []
    pack = load_pack(text)
    assert [r.passed for r in run_tests(pack)] == [True, True]


def test_a_shadow_forcing_rule_needs_no_test() -> None:
    text = f"pack p 1.0.0\non payment\nrule big\n  when event.amount > 100\n  then block\n  mode shadow\n{OUTCOME}"
    assert diagnostics(text) == []


# ---------------------------------------------------------------- the shipped packs


@pytest.mark.parametrize("name", ["cards.rules", "account_takeover.rules", "fleet_fuel.rules"])
def test_the_spec_examples_check_and_pass_their_tests(name: str) -> None:
    """SPEC: every example in examples/ must parse, check, and behave as described."""
    pack = load_pack((EXAMPLES / name).read_text(encoding="utf-8"))
    assert [d for d in pack.diagnostics if d.severity == "error"] == []
    failed = [(r.name, r.failures) for r in run_tests(pack) if not r.passed]
    assert failed == []


def test_shipped_rulepacks_check_and_pass_their_tests() -> None:
    """Globbed at test time, so a pack added later is covered too."""
    for path in sorted((ROOT / "rulepacks").glob("*.rules")):
        pack = load_pack(path.read_text(encoding="utf-8"), str(path))
        assert [d for d in pack.diagnostics if d.severity == "error"] == [], path
        failed = [(r.name, r.failures) for r in run_tests(pack) if not r.passed]
        assert failed == [], path
