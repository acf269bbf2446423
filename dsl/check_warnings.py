"""Warnings: unused declarations, rules that can never fire, forcing rules without tests.

Warnings never block a pack unless ``vigil check --strict`` asks them to.
"""

from __future__ import annotations

from dsl import ast
from dsl.analysis import CheckedPack
from dsl.check_exprs import static_bool
from dsl.diagnostics import Collector


def warn(checked: CheckedPack, used: set[str], out: Collector) -> None:
    for name, let in checked.lets.items():
        if name not in used:
            out.warning(let.name_span, "unused", f"let '{name}' is never used")
    for name, decl in checked.lists.items():
        if name not in used:
            out.warning(decl.name_span, "unused", f"list '{name}' is never used")
    for rule in checked.rules:
        if rule.when is None or not checked.kinds:
            continue
        if all(static_bool(rule.when, kind, checked.lets) is False for kind in checked.kinds):
            out.warning(
                rule.node.name_span,
                "never-fires",
                f"rule '{rule.name}' can never fire: its condition is always false",
            )
    _untested_forcing_rules(checked, out)


def _untested_forcing_rules(checked: CheckedPack, out: Collector) -> None:
    fired: set[str] = set()
    quiet: set[str] = set()
    names = {r.name for r in checked.rules}
    for test in checked.tests:
        for clause in test.clauses:
            if isinstance(clause, ast.ExpectHits):
                fired |= set(clause.rules)
                quiet |= names - set(clause.rules)
            elif isinstance(clause, ast.ExpectNoHits):
                quiet |= names
    for rule in checked.rules:
        if rule.verdict not in ("block", "review") or rule.shadow:
            continue
        missing = []
        if rule.name not in fired:
            missing.append("one where it fires")
        if rule.name not in quiet:
            missing.append("one where it does not")
        if missing:
            out.warning(
                rule.node.name_span,
                "untested",
                f"rule '{rule.name}' forces {rule.verdict} but has no test {' and no test '.join(missing)}"
                " (use expect hits / expect no hits)",
            )
