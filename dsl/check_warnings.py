"""Warnings: unused declarations, rules that can never fire, forcing rules without tests.

Warnings never block a pack unless ``vigil check --strict`` asks them to.
"""

from __future__ import annotations

from typing import Any

from dsl import ast
from dsl.analysis import CheckedPack
from dsl.check_exprs import static_bool
from dsl.diagnostics import Collector
from dsl.operators import COMPARE


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
        if all(static_bool(rule.when, kind, checked.lets) is False for kind in checked.kinds) or (
            constant_value(rule.when) not in (_UNKNOWN, True)
        ):
            out.warning(
                rule.node.name_span,
                "never-fires",
                f"rule '{rule.name}' can never fire: its condition is always false",
            )
    _untested_forcing_rules(checked, out)


_UNKNOWN: Any = object()


def constant_value(expr: ast.Expr) -> Any:
    """The value of an expression made of literals only (null as None), else ``_UNKNOWN``."""
    if isinstance(expr, ast.Literal):
        return expr.value
    if isinstance(expr, ast.Duration):
        return expr.seconds
    if isinstance(expr, ast.Unary) and expr.op == "not":
        inner = constant_value(expr.operand)
        return inner if inner is _UNKNOWN or inner is None else not inner
    if isinstance(expr, ast.Binary) and expr.op in ("and", "or"):
        left, right = constant_value(expr.left), constant_value(expr.right)
        if _UNKNOWN in (left, right):
            return _UNKNOWN
        if expr.op == "and":
            return False if False in (left, right) else (None if None in (left, right) else True)
        return True if True in (left, right) else (None if None in (left, right) else False)
    if isinstance(expr, ast.Compare) and expr.op in COMPARE:
        left, right = constant_value(expr.left), constant_value(expr.right)
        if _UNKNOWN in (left, right):
            return _UNKNOWN
        if left is None or right is None:
            return None
        try:
            return bool(COMPARE[expr.op](left, right))
        except TypeError:
            return _UNKNOWN
    return _UNKNOWN


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
            missing.append("where it fires")
        if rule.name not in quiet:
            missing.append("where it does not fire")
        if missing:
            out.warning(
                rule.node.name_span,
                "untested",
                f"rule '{rule.name}' forces {rule.verdict} but has no test {' and no test '.join(missing)}"
                " (use expect hits / expect no hits)",
            )
