"""The ``vigil`` command line on rulepacks: check (text, json, strict), fmt, test, compile, score."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.cli import main
from dsl.formatter import format_pack
from dsl.parser import parse

CLEAN = """pack clean 1.0.0
on payment

rule big
  when event.amount > 1000
  then review
  score 40
  case queue "cards"

outcome
  review when score >= 40
  approve

test "a big payment is reviewed"
  given payment { card_id: "c1", amount: 5000.0 }
  expect review
  expect hits big

test "a small one is not"
  given payment { card_id: "c1", amount: 5.0 }
  expect approve
  expect no hits
"""

WARNINGS = """pack warned 1.0.0
on payment

let unused = event.amount > 1

rule untested_block
  when event.amount > 1000
  then block

outcome
  approve
"""

ERRORS = """pack broken 1.0.0
on payment

rule a
  when event.amout > 1000

rule b
  when event.channel == 5

outcome
  approve
"""


@pytest.fixture
def write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)

    def _write(name: str, text: str) -> str:
        (tmp_path / name).write_text(text, encoding="utf-8")
        return name

    return _write


Capsys = pytest.CaptureFixture[str]


# ---------------------------------------------------------------- check


def test_check_text(write, capsys: Capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["check", write("clean.rules", CLEAN)]) == 0
    out, err = capsys.readouterr()
    assert (out, err) == ("clean.rules: ok\n", "")
    assert main(["check", write("broken.rules", ERRORS)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        "broken.rules:5:14: error: unknown field 'amout' on payment; did you mean 'amount'?",
        "    5 |   when event.amout > 1000",
        "      |              ^^^^^",
        "broken.rules:8:22: error: cannot compare string with number",
        "    8 |   when event.channel == 5",
        "      |                      ^^",
    ]


def test_check_json(write, capsys: Capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["check", "--format", "json", write("broken.rules", ERRORS)]) == 1
    out, err = capsys.readouterr()
    assert err == ""
    data = json.loads(out)
    assert data == [
        {
            "path": "broken.rules",
            "line": 5,
            "column": 14,
            "end_line": 5,
            "end_column": 19,
            "severity": "error",
            "code": "unknown-field",
            "message": "unknown field 'amout' on payment; did you mean 'amount'?",
        },
        {
            "path": "broken.rules",
            "line": 8,
            "column": 22,
            "end_line": 8,
            "end_column": 24,
            "severity": "error",
            "code": "type",
            "message": "cannot compare string with number",
        },
    ]


def test_check_json_of_a_syntax_error(write, capsys: Capsys) -> None:  # type: ignore[no-untyped-def]
    assert (
        main(["check", "--format", "json", write("s.rules", "pack s 1.0.0\non payment\nlet x = (1 +\n")]) == 1
    )
    (diag,) = json.loads(capsys.readouterr().out)
    assert set(diag) == {"path", "line", "column", "end_line", "end_column", "severity", "code", "message"}
    assert (diag["line"], diag["severity"], diag["code"]) == (3, "error", "syntax")


def test_check_json_clean_and_several_files(write, capsys: Capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["check", "--format", "json", write("clean.rules", CLEAN)]) == 0
    assert json.loads(capsys.readouterr().out) == []
    files = [write("clean.rules", CLEAN), write("warned.rules", WARNINGS), write("broken.rules", ERRORS)]
    assert main(["check", "--format", "json", *files]) == 1
    data = json.loads(capsys.readouterr().out)
    assert [(d["path"], d["severity"]) for d in data] == [
        ("warned.rules", "warning"),
        ("warned.rules", "warning"),
        ("broken.rules", "error"),
        ("broken.rules", "error"),
    ]


def test_warnings_fail_only_under_strict(write, capsys: Capsys) -> None:  # type: ignore[no-untyped-def]
    path = write("warned.rules", WARNINGS)
    assert main(["check", path]) == 0
    err = capsys.readouterr().err
    assert "warned.rules:4:5: warning: let 'unused' is never used" in err
    assert "warned.rules:6:6: warning: rule 'untested_block' forces block but has no test" in err
    assert main(["check", "--strict", path]) == 1
    assert main(["check", "--strict", "--format", "json", path]) == 1
    codes = [d["code"] for d in json.loads(capsys.readouterr().out)]
    assert codes == ["unused", "untested"]
    assert main(["check", "--strict", write("clean.rules", CLEAN)]) == 0


def test_check_a_folder(write, tmp_path: Path, capsys: Capsys) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "packs").mkdir()
    write("packs/a.rules", CLEAN)
    write("packs/b.rules", CLEAN.replace("pack clean", "pack other"))
    assert main(["check", "packs"]) == 0
    assert capsys.readouterr().out.splitlines() == ["packs/a.rules: ok", "packs/b.rules: ok"]


def test_check_a_missing_file(write, capsys: Capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["check", "nope.rules"]) == 1
    assert "nope.rules: error: cannot read" in capsys.readouterr().err


# ---------------------------------------------------------------- test


def test_vigil_test_passes(write, capsys: Capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["test", write("clean.rules", CLEAN)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "clean.rules:14: passed: a big payment is reviewed (review, score 40, hits big)",
        "clean.rules:19: passed: a small one is not (approve, score 0, hits none)",
        "2 passed, 0 failed",
    ]


def test_vigil_test_fails(write, capsys: Capsys) -> None:  # type: ignore[no-untyped-def]
    failing = CLEAN.replace(
        "expect approve\n  expect no hits", "expect block\n  expect hits big\n  expect score >= 10"
    )
    assert main(["test", write("failing.rules", failing)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "failing.rules:14: passed: a big payment is reviewed (review, score 40, hits big)",
        "failing.rules:19: FAILED: a small one is not (approve, score 0, hits none)",
        "    expected block, got approve",
        "    expected hits big; got no hits",
        "    expected score >= 10, got 0",
        "1 passed, 1 failed",
    ]


def test_vigil_test_on_a_pack_that_does_not_check(write, capsys: Capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["test", write("broken.rules", ERRORS)]) == 1
    out, err = capsys.readouterr()
    assert "error: unknown field 'amout'" in err
    assert out.splitlines()[-1] == "0 passed, 1 failed"


def test_vigil_test_exit_code_on_a_pack_that_does_not_check(write, capsys: Capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["test", write("broken.rules", ERRORS)]) == 1
    assert "broken.rules:5:14: error: unknown field 'amout'" in capsys.readouterr().err


# ---------------------------------------------------------------- score


def test_score_reports_a_bad_line_and_continues(write, capsys: Capsys) -> None:  # type: ignore[no-untyped-def]
    pack = write("clean.rules", CLEAN)
    events = write(
        "events.jsonl",
        '{"kind": "payment", "id": "e1", "timestamp": "2026-01-01T00:00:00Z", "amount": 5000.0, "card_id": "c1"}\n'
        "{not json\n"
        "\n"
        '{"kind": "payment", "id": "e2", "timestamp": "yesterday"}\n'
        '{"kind": "paymnt", "id": "e3", "timestamp": "2026-01-01T00:00:00Z"}\n'
        '{"kind": "payment", "id": "e4", "timestamp": "2026-01-01T00:01:00Z", "amount": 5.0}\n',
    )
    assert main(["score", "--pack", pack, "--events", events]) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line.get("event_id", line.get("line")) for line in lines] == ["e1", 2, 4, 5, "e4"]
    assert lines[0]["outcome"] == "review"
    assert lines[0]["hits"][0]["explanation"] == ["event.amount = 5000.0 > 1000"]
    assert lines[0]["effects"] == [
        {
            "type": "open_case",
            "queue": "cards",
            "key": "c1",
            "priority": "normal",
            "rule": "big",
            "severity": "medium",
        }
    ]
    assert "malformed JSON" in lines[1]["error"]
    assert "$.timestamp" in lines[2]["error"]
    assert "known kinds" in lines[3]["error"]
    assert lines[4]["outcome"] == "approve"


def test_score_clean_stream(write, capsys: Capsys) -> None:  # type: ignore[no-untyped-def]
    events = write("events.jsonl", '{"kind": "login", "id": "l1", "timestamp": "2026-01-01T00:00:00Z"}\n')
    assert main(["score", "--pack", write("clean.rules", CLEAN), "--events", events]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["outcome"] == "approve"


def test_score_with_a_broken_pack(write, capsys: Capsys) -> None:  # type: ignore[no-untyped-def]
    events = write("events.jsonl", "")
    assert main(["score", "--pack", write("broken.rules", ERRORS), "--events", events]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "unknown field 'amout'" in err


# ---------------------------------------------------------------- fmt


def test_fmt_check_and_rewrite(write, tmp_path: Path, capsys: Capsys) -> None:  # type: ignore[no-untyped-def]
    formatted = format_pack(parse(CLEAN), CLEAN)
    assert main(["fmt", "--check", write("ok.rules", formatted)]) == 0
    messy = "pack   messy 1.0.0\non payment\nrule big when event.amount>1000 score 40 # keep me\noutcome\n approve\n"
    path = write("messy.rules", messy)
    assert main(["fmt", "--check", path]) == 1
    assert capsys.readouterr().err == "messy.rules: would reformat\n"
    assert (tmp_path / path).read_text(encoding="utf-8") == messy
    assert main(["fmt", path]) == 0
    assert capsys.readouterr().out == "messy.rules: reformatted\n"
    rewritten = (tmp_path / path).read_text(encoding="utf-8")
    assert rewritten == (
        "pack messy 1.0.0\non payment\n\nrule big  # keep me\n  when event.amount > 1000\n  score 40\n\noutcome\n  approve\n"
    )
    assert main(["fmt", "--check", path]) == 0
    assert parse(rewritten) == parse(messy)


def test_fmt_of_a_syntax_error(write, tmp_path: Path, capsys: Capsys) -> None:  # type: ignore[no-untyped-def]
    text = "pack bad 1.0.0\nlet x = (1 +\n"
    assert main(["fmt", "--check", write("bad.rules", text)]) == 1
    assert main(["fmt", "bad.rules"]) == 1
    assert "bad.rules:2:" in capsys.readouterr().err
    assert (tmp_path / "bad.rules").read_text(encoding="utf-8") == text


# ---------------------------------------------------------------- compile


def test_compile_show_prints_python(write, capsys: Capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["compile", "--show", write("clean.rules", CLEAN)]) == 0
    code = capsys.readouterr().out
    compile(code, "<shown>", "exec")
    assert "def _eval_payment(" in code
    assert "# rule big" in code


def test_compile_show_of_the_examples(capsys: Capsys) -> None:
    assert main(["compile", "--show", "/work/shared/dsl/examples/cards.rules"]) == 0
    compile(capsys.readouterr().out, "<shown>", "exec")


def test_compile_summary_and_errors(write, capsys: Capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["compile", write("clean.rules", CLEAN)]) == 0
    assert capsys.readouterr().out == "clean.rules: compiled 1 rules for payment\n"
    assert main(["compile", "--show", write("broken.rules", ERRORS)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "broken.rules:5:14: error" in err
