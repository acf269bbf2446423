"""Event data is never code: strings that look like Python are compared, listed and shown as data.

Every value reaches the generated evaluator as a local variable; the only text spliced
into the generated source comes from the pack's own literals, through ``repr``.
"""

from __future__ import annotations

import ast as pyast
import builtins
import os
import subprocess
from typing import Any

import pytest

from dsl.formatter import quote
from engine.decision import Notify, OpenCase
from engine.engine import Engine
from engine.events import event_from_dict
from engine.pack import CompiledPack, load_pack

PAYLOADS = [
    "__import__('os').system('x')",
    '"); import os; os.system("x"); ("',
    "'); import os; os.system('x'); ('",
    "{__import__}",
    "{event.amount}",
    "line\nbreak",
    "tab\tand\rreturn",
    "back\\slash\\",
    "\\u0041\\n",
    "'''",
    '"""',
    "${jndi:ldap://example.invalid/a}",
    "%s%s%n%(x)s",
    "nul\x00byte",
    "ünïcödé ✓ 🙂 \u2028",
    "__class__.__mro__[1].__subclasses__()",
    "",
]


def _forbid(*_: Any, **__: Any) -> Any:
    raise AssertionError("event data was executed")


@pytest.fixture
def no_execution(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to run a command, or to eval/exec/compile during evaluation, fails the test."""
    for name in ("system", "popen", "execv", "execve", "spawnv", "fork"):
        if hasattr(os, name):
            monkeypatch.setattr(os, name, _forbid)
    monkeypatch.setattr(subprocess, "Popen", _forbid)
    monkeypatch.setattr(subprocess, "run", _forbid)


def _engine(body: str, head: str = "") -> Engine:
    text = f"pack data 1.0.0\non payment\n{head}\n{body}\noutcome\n  review when score >= 10\n  approve\n"
    return Engine([load_pack(text)])


def _evaluate(engine: Engine, monkeypatch: pytest.MonkeyPatch, **fields: Any) -> list[Any]:
    """The decisions for a Struct and a mapping event, with eval/exec/compile forbidden meanwhile."""
    data = {"kind": "payment", "id": "e1", "timestamp": "2026-01-01T12:00:00+00:00", **fields}
    events = [event_from_dict(data), dict(data)]
    with monkeypatch.context() as m:
        for name in ("eval", "exec", "compile"):
            m.setattr(builtins, name, _forbid)
        return [engine.evaluate(e) for e in events]


@pytest.mark.usefixtures("no_execution")
@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_equality_with_a_literal(payload: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = _engine(f"rule same\n  when event.merchant_id == {quote(payload)}\n  score 10\n")
    for d in _evaluate(engine, monkeypatch, merchant_id=payload):
        assert [h.rule for h in d.hits] == ["same"]
        assert d.hits[0].explanation == (f"event.merchant_id = {quote(payload)} == {quote(payload)}",)
        assert d.outcome == "review"
    for d in _evaluate(engine, monkeypatch, merchant_id=payload + "x"):
        assert d.hits == ()


@pytest.mark.usefixtures("no_execution")
@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_membership_and_explanations(payload: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = _engine(
        'rule listed\n  when event.merchant_id in ["m1", "m2"]\n  score 1\n\n'
        'rule unlisted\n  when event.merchant_id not in ["m1", "m2"]\n  score 1\n'
        '  explain "merchant {event.merchant_id} on {event.card_id}"\n'
        '  case queue "q" key event.merchant_id\n'
    )
    for d in _evaluate(engine, monkeypatch, merchant_id=payload, card_id=payload):
        assert [h.rule for h in d.hits] == ["unlisted"]
        (hit,) = d.hits
        assert hit.explanation == (f'event.merchant_id = {quote(payload)} not in ["m1", "m2"]',)
        assert hit.message == f"merchant {payload} on {payload}"
        assert d.effects == (OpenCase("q", payload, "normal", "unlisted", "medium"),)


@pytest.mark.usefixtures("no_execution")
@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_payload_in_a_managed_list(payload: str, monkeypatch: pytest.MonkeyPatch) -> None:
    text = 'pack data 1.0.0\non payment\nlist bad = managed "bad"\nrule r\n  when event.ip in bad\n  then block\noutcome\n  approve\n'
    engine = Engine([load_pack(text)], lists={"bad": [payload]})
    for d in _evaluate(engine, monkeypatch, ip=payload):
        assert d.outcome == "block"
        assert d.hits[0].explanation == (f"event.ip = {quote(payload)} in bad",)


@pytest.mark.usefixtures("no_execution")
def test_attribute_names_and_values_are_data(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = _engine(
        'rule weird_key\n  when event.attributes.__import__ == "os"\n  score 1\n\n'
        "rule missing\n  when event.attributes.__class__ is null\n  score 1\n"
    )
    attrs = {"__import__": "os", "__builtins__": {"eval": "x"}, "x; import os": 1}
    for d in _evaluate(engine, monkeypatch, attributes=attrs):
        assert [h.rule for h in d.hits] == ["weird_key", "missing"]
        assert d.hits[0].explanation == ('event.attributes.__import__ = "os" == "os"',)


def test_attribute_paths_do_not_reach_python_attributes(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = _engine(
        "rule leak\n  when event.attributes.s.__class__ is not null or event.attributes.s.upper is not null\n"
    )
    for d in _evaluate(engine, monkeypatch, attributes={"s": "abc"}):
        assert d.hits == ()


@pytest.mark.usefixtures("no_execution")
@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_pack_strings_are_spliced_only_as_literals(payload: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Queue, integration, id, regex and explain text of the pack itself reach the code through repr."""
    body = (
        f"rule r {quote(payload)}\n"
        f"  id {quote(payload)}\n"
        f"  when event.merchant_id == {quote(payload)} or event.channel in [{quote(payload)}]\n"
        f"  case queue {quote(payload)} key {quote(payload)}\n"
        f"  notify {quote(payload)}\n"
        f"  explain {quote(payload.replace('{', '(').replace('}', ')'))}\n"
        f"  score 10\n"
    )
    p: CompiledPack = load_pack(f"pack data 1.0.0\non payment\n{body}\noutcome\n  approve\n")
    tree = pyast.parse(p.generated.code)
    assert not [n for n in pyast.walk(tree) if isinstance(n, pyast.Import | pyast.ImportFrom)]
    names = {n.id for n in pyast.walk(tree) if isinstance(n, pyast.Name)}
    assert not names & {"__import__", "eval", "exec", "compile", "os", "open", "getattr", "globals"}
    (d,) = _evaluate(Engine([p]), monkeypatch, merchant_id=payload)[:1]
    assert [h.rule for h in d.hits] == ["r"]
    assert d.hits[0].id == payload
    assert d.hits[0].message == (payload.replace("{", "(").replace("}", ")") or None)
    assert d.effects == (OpenCase(payload, payload, "normal", "r", "medium"), Notify(payload, "r"))


@pytest.mark.usefixtures("no_execution")
def test_matches_treats_the_payload_as_text(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = _engine('rule code_like\n  when event.merchant_id matches "import\\\\s+os"\n  score 10\n')
    for d in _evaluate(engine, monkeypatch, merchant_id=PAYLOADS[1]):
        assert [h.rule for h in d.hits] == ["code_like"]
        assert d.hits[0].explanation == (
            f"event.merchant_id = {quote(PAYLOADS[1])} matches {quote('import' + chr(92) + 's+os')}",
        )
