"""Diagnostics: errors and warnings with a span, rendered with the source line and a caret.

Checks collect diagnostics instead of raising at the first one, so an analyst sees
every problem of a pack at once.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Literal

import msgspec

from dsl.ast import Span

SeverityName = Literal["error", "warning"]


class Diagnostic(msgspec.Struct, frozen=True):
    """One problem in a pack, as ``vigil check --format json`` reports it."""

    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    severity: SeverityName
    code: str
    message: str


class Source(msgspec.Struct, frozen=True):
    """A pack's text and the path it is reported under."""

    path: str
    text: str

    def line(self, number: int) -> str:
        lines = self.text.splitlines()
        return lines[number - 1] if 0 < number <= len(lines) else ""


class Collector:
    """Accumulates the diagnostics of one source."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.items: list[Diagnostic] = []

    def error(self, span: Span, code: str, message: str) -> None:
        self._add(span, "error", code, message)

    def warning(self, span: Span, code: str, message: str) -> None:
        self._add(span, "warning", code, message)

    def _add(self, span: Span, severity: SeverityName, code: str, message: str) -> None:
        diag = Diagnostic(
            self.source.path,
            span.line,
            span.column,
            span.end_line or span.line,
            span.end_column or span.column + 1,
            severity,
            code,
            message,
        )
        if diag not in self.items:
            self.items.append(diag)

    @property
    def has_errors(self) -> bool:
        return any(d.severity == "error" for d in self.items)

    def sorted(self) -> list[Diagnostic]:
        return sorted(self.items, key=lambda d: (d.line, d.column, d.severity, d.code, d.message))


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """``"; did you mean 'amount'?"`` for the closest candidate, or ``""``."""
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def render(diag: Diagnostic, source: Source | None) -> str:
    """``path:line:col: severity: message`` then the source line and a caret span."""
    head = f"{diag.path}:{diag.line}:{diag.column}: {diag.severity}: {diag.message}"
    if source is None or diag.line <= 0:
        return head
    text = source.line(diag.line).expandtabs(1)
    gutter = f"{diag.line:>5} | "
    end = diag.end_column if diag.end_line == diag.line else len(text) + 1
    width = max(1, end - diag.column)
    caret = " " * (len(gutter) - 2) + "| " + " " * (diag.column - 1) + "^" * width
    return f"{head}\n{gutter}{text}\n{caret}"


def render_all(diags: Iterable[Diagnostic], source: Source | None) -> str:
    return "\n".join(render(d, source) for d in diags)
