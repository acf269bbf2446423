"""Snapshot tests of the diagnostics of invalid packs: one pack per file in ``invalid/``.

``invalid/NAME.rules`` is checked and its diagnostics are rendered exactly as
``vigil check`` prints them, with the path written relative to the repository
root (``tests/dsl/invalid/NAME.rules``), and compared with ``invalid/NAME.expected``.
Run with ``UPDATE_SNAPSHOTS=1`` to rewrite the expected files after a deliberate
change of messages, then review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from api.cli import main
from dsl.diagnostics import Diagnostic, Source, render_all
from dsl.parser import ParseFailure, parse
from engine.pack import PackError, load_pack

ROOT = Path(__file__).resolve().parents[2]
INVALID = Path(__file__).resolve().parent / "invalid"
CASES = sorted(INVALID.glob("*.rules"))
UPDATE = os.environ.get("UPDATE_SNAPSHOTS") == "1"

#: packs whose check currently crashes instead of reporting; their ``.expected`` holds
#: the output they should give (``raises`` keeps any other failure a real failure)
CRASHES: dict[str, str] = {}


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def diagnostics_of(path: Path) -> tuple[list[Diagnostic], Source]:
    rel = relative(path)
    text = path.read_text(encoding="utf-8")
    try:
        diags = load_pack(text, rel).diagnostics
    except PackError as exc:
        diags = exc.diagnostics
    return diags, Source(rel, text)


def render(path: Path) -> str:
    diags, source = diagnostics_of(path)
    return render_all(diags, source) + "\n"


def _params() -> list[object]:
    params: list[object] = []
    for path in CASES:
        marks = []
        if path.stem in CRASHES and not UPDATE:
            marks.append(pytest.mark.xfail(strict=True, raises=TypeError, reason=CRASHES[path.stem]))
        params.append(pytest.param(path, id=path.stem, marks=marks))
    return params


def test_there_are_at_least_forty_cases() -> None:
    assert len(CASES) >= 40
    missing = [p.stem for p in CASES if not p.with_suffix(".expected").exists()]
    assert UPDATE or not missing, f"cases without an .expected snapshot: {missing}"


@pytest.mark.parametrize("path", _params())
def test_snapshot(path: Path) -> None:
    expected_file = path.with_suffix(".expected")
    if UPDATE and path.stem in CRASHES:
        pytest.skip("crashing case: its .expected is written by hand")
    got = render(path)
    if UPDATE:
        expected_file.write_text(got, encoding="utf-8")
    assert got == expected_file.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", [p for p in _params() if getattr(p, "id", "") not in CRASHES])
def test_every_case_has_an_error(path: Path) -> None:
    diags, _ = diagnostics_of(path)
    errors = [d for d in diags if d.severity == "error"]
    assert errors, "an invalid pack must produce at least one error"
    for d in diags:
        assert d.path == relative(path)
        assert d.line >= 1 and d.column >= 1
        assert (d.end_line, d.end_column) >= (d.line, d.column + 1) or d.end_line > d.line
        assert d.code and d.message


@pytest.mark.parametrize("path", [p for p in _params() if getattr(p, "id", "") not in CRASHES])
def test_vigil_check_prints_the_snapshot(
    path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)
    code = main(["check", relative(path)])
    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert err == path.with_suffix(".expected").read_text(encoding="utf-8")


def test_several_syntax_errors_are_reported_at_once() -> None:
    path = INVALID / "syntax_several_errors.rules"
    with pytest.raises(ParseFailure) as info:
        parse(path.read_text(encoding="utf-8"), relative(path))
    assert [(d.line, d.code) for d in info.value.diagnostics] == [
        (5, "syntax"),
        (9, "syntax"),
        (14, "syntax"),
    ]


# ---------------------------------------------------------------- messages that should be better
# The snapshots above keep the current output; each assertion below states what it should be.


def _only(path_stem: str) -> list[Diagnostic]:
    diags, _ = diagnostics_of(INVALID / f"{path_stem}.rules")
    return diags


def test_single_equals_suggests_double_equals() -> None:
    (diag,) = _only("syntax_single_equals")
    assert (diag.line, diag.column) == (5, 22)
    assert "'=='" in diag.message


def test_invalid_regex_message_is_plain_text() -> None:
    (diag,) = _only("invalid_regex")
    assert (diag.line, diag.column, diag.code) == (5, 25, "regex")
    assert diag.message == r"invalid regular expression: missing ): ^(10\.|192\.168"


def test_positional_after_named_is_one_error() -> None:
    diags = _only("positional_after_named")
    assert [d.message for d in diags] == ["velocity(): positional arguments must come before named ones"]


def test_explain_error_points_at_the_field() -> None:
    (diag,) = _only("explain_unknown_field")
    assert (diag.line, diag.column, diag.end_column) == (7, 26, 31)


def test_unknown_test_field_points_at_the_field() -> None:
    (diag,) = _only("unknown_field_in_test_event")
    assert (diag.line, diag.column, diag.end_column) == (13, 19, 24)


def test_wrong_kind_detector_does_not_suggest_an_impossible_narrowing() -> None:
    (diag,) = _only("detector_on_wrong_kind")
    assert (diag.line, diag.column, diag.code) == (5, 8, "kind")
    assert "narrow" not in diag.message


def test_a_duration_in_a_list_is_called_a_duration() -> None:
    first = _only("list_of_durations")[0]
    assert (first.line, first.column) == (4, 23)
    assert first.message == "list 'windows' mixes string and duration"
