"""Type-checks expressions under one event kind, narrowing on ``event.kind == "K"``.

Errors are collected, and a node that fails gets the type ``any`` so that one
mistake is reported once, not again by every expression around it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import re2

from dsl import ast
from dsl.diagnostics import Collector, did_you_mean
from dsl.types import (
    ANY,
    BOOL,
    DURATION,
    KEY,
    NULL,
    NUMBER,
    STRING,
    TIMESTAMP,
    Environment,
    FunctionSig,
    KindSchema,
    Type,
    accepts,
    compatible,
    list_of,
)

_ORDERED = {NUMBER, DURATION, STRING, TIMESTAMP, ANY, NULL}


@dataclass
class Scope:
    """What names mean while checking: the kind, the pack's lets and lists, the environment."""

    env: Environment
    kind: KindSchema
    collector: Collector
    let_types: dict[str, Type]
    list_types: dict[str, Type]
    models: dict[str, str]
    types: dict[tuple[str, int], Type]
    allow_score: bool = False
    #: names of lets and lists seen, for the unused-declaration warning
    used: set[str] = field(default_factory=set)
    #: the let being checked, with its dependency chain, to reject cycles
    resolving: tuple[str, ...] = ()
    let_resolver: Any = None
    #: the pack's lets, so that narrowing sees through them
    lets: dict[str, ast.Let] | None = None
    #: every kind the pack is on
    pack_kinds: tuple[str, ...] = ()


_QUIET = re2.Options()
_QUIET.log_errors = False  # the error is reported as a diagnostic, not on stderr


def regex_problem(pattern: str) -> str | None:
    """Why RE2 rejects ``pattern``, or None when it compiles."""
    try:
        re2.compile(pattern, _QUIET)
    except Exception as exc:  # re2 raises its own error type, with a bytes message
        detail = exc.args[0] if exc.args else exc
        return detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
    return None


def static_bool(
    expr: ast.Expr, kind: str, lets: dict[str, ast.Let] | None = None, depth: int = 0
) -> bool | None:
    """The value of ``expr`` when it is fixed by the event kind alone (narrowing), through lets."""
    if isinstance(expr, ast.Literal) and isinstance(expr.value, bool):
        return expr.value
    if isinstance(expr, ast.Name) and lets and expr.name in lets and depth < 32:
        return static_bool(lets[expr.name].expr, kind, lets, depth + 1)
    if (
        isinstance(expr, ast.Compare)
        and expr.op in ("==", "!=")
        and isinstance(expr.left, ast.Field)
        and expr.left.path == ("kind",)
        and isinstance(expr.right, ast.Literal)
        and isinstance(expr.right.value, str)
    ):
        same = expr.right.value == kind
        return same if expr.op == "==" else not same
    if isinstance(expr, ast.Compare) and expr.op in ("in", "not in") and _is_kind_field(expr.left):
        if isinstance(expr.right, ast.ListExpr) and all(
            isinstance(i, ast.Literal) and isinstance(i.value, str) for i in expr.right.items
        ):
            inside = any(isinstance(i, ast.Literal) and i.value == kind for i in expr.right.items)
            return inside if expr.op == "in" else not inside
    if isinstance(expr, ast.Unary) and expr.op == "not":
        inner = static_bool(expr.operand, kind, lets, depth)
        return None if inner is None else not inner
    if isinstance(expr, ast.Binary) and expr.op in ("and", "or"):
        left = static_bool(expr.left, kind, lets, depth)
        if expr.op == "and" and left is False:
            return False
        if expr.op == "or" and left is True:
            return True
        right = static_bool(expr.right, kind, lets, depth)
        if left is not None and right is not None:
            return (left and right) if expr.op == "and" else (left or right)
        if expr.op == "and" and right is False:
            return False
        if expr.op == "or" and right is True:
            return True
    return None


def _is_kind_field(expr: ast.Expr) -> bool:
    return isinstance(expr, ast.Field) and expr.path == ("kind",)


def check_expr(expr: ast.Expr, scope: Scope) -> Type:
    """The type of ``expr`` under ``scope.kind``; records it in ``scope.types``."""
    result = _check(expr, scope)
    scope.types[(scope.kind.name, id(expr))] = result
    return result


def _err(scope: Scope, span: ast.Span, code: str, message: str) -> Type:
    scope.collector.error(span, code, message)
    return ANY


def _check(expr: ast.Expr, scope: Scope) -> Type:
    if isinstance(expr, ast.Literal):
        return literal_type(expr.value)
    if isinstance(expr, ast.Duration):
        return DURATION
    if isinstance(expr, ast.Field):
        return _field(expr, scope)
    if isinstance(expr, ast.Name):
        return _name(expr, scope)
    if isinstance(expr, ast.ScoreRef):
        if not scope.allow_score:
            return _err(
                scope, expr.span, "score-outside-outcome", "'score' is only defined in outcome conditions"
            )
        return NUMBER
    if isinstance(expr, ast.ListExpr):
        return _list(expr, scope)
    if isinstance(expr, ast.Call):
        return _call(expr, scope)
    if isinstance(expr, ast.Unary):
        return _unary(expr, scope)
    if isinstance(expr, ast.Binary):
        return _binary(expr, scope)
    if isinstance(expr, ast.Compare):
        return _compare(expr, scope)
    if isinstance(expr, ast.Matches):
        subject = check_expr(expr.subject, scope)
        if subject not in (STRING, ANY, NULL):
            _err(scope, expr.subject.span, "type", f"'matches' needs a string on its left, not {subject}")
        problem = regex_problem(expr.pattern)
        if problem:
            _err(scope, expr.pattern_span, "regex", f"invalid regular expression: {problem}")
        return BOOL
    if isinstance(expr, ast.Between):
        types = [check_expr(e, scope) for e in (expr.subject, expr.low, expr.high)]
        _require_ordered(scope, expr, types[0], types[1], "between")
        _require_ordered(scope, expr, types[0], types[2], "between")
        return BOOL
    if isinstance(expr, ast.IsNull):
        check_expr(expr.subject, scope)
        return BOOL
    raise AssertionError(f"unhandled node {type(expr).__name__}")


def literal_type(value: Any) -> Type:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int | float):
        return NUMBER
    return STRING


def _field(expr: ast.Field, scope: Scope) -> Type:
    if not expr.path:
        return _err(
            scope, expr.span, "bare-event", "'event' is not a value on its own; name a field: event.amount"
        )
    current = scope.kind.fields
    where = scope.kind.name
    for depth, (segment, span) in enumerate(zip(expr.path, _spans(expr), strict=True)):
        if current == ANY:
            return ANY
        sub = current.field(segment)
        if sub is None:
            names = [name for name, _ in current.fields]
            return _err(
                scope,
                span,
                "unknown-field",
                f"unknown field '{segment}' on {where}{did_you_mean(segment, names)}",
            )
        current = sub
        where = f"{where}.{segment}" if depth else f"{scope.kind.name}.{segment}"
    return current


def _spans(expr: ast.Field) -> tuple[ast.Span, ...]:
    if len(expr.segment_spans) == len(expr.path):
        return expr.segment_spans
    return tuple(expr.span for _ in expr.path)


def _name(expr: ast.Name, scope: Scope) -> Type:
    scope.used.add(expr.name)
    if expr.name in scope.list_types:
        return scope.list_types[expr.name]
    if expr.name in scope.let_types or (
        scope.let_resolver is not None and scope.let_resolver.knows(expr.name)
    ):
        if expr.name in scope.resolving:
            cycle = " -> ".join([*scope.resolving[scope.resolving.index(expr.name) :], expr.name])
            return _err(scope, expr.span, "let-cycle", f"'let {expr.name}' depends on itself: {cycle}")
        if expr.name not in scope.let_types:
            scope.let_resolver.resolve(expr.name, scope)
        return scope.let_types.get(expr.name, ANY)
    candidates = [*scope.let_types, *scope.list_types]
    if scope.let_resolver is not None:
        candidates += scope.let_resolver.names()
    hint = did_you_mean(expr.name, candidates)
    if expr.name in scope.env.functions and not hint:
        hint = f"; '{expr.name}' is a function: call it with ()"
    return _err(scope, expr.span, "unknown-name", f"unknown name '{expr.name}' (not a let or a list){hint}")


def _list(expr: ast.ListExpr, scope: Scope) -> Type:
    elem = NULL
    for item in expr.items:
        t = check_expr(item, scope)
        if elem == NULL:
            elem = t
        elif t != NULL and not compatible(elem, t):
            _err(scope, item.span, "type", f"a list holds one type: {elem} and {t} are mixed")
    return list_of(ANY if elem == NULL else elem)


def _call(expr: ast.Call, scope: Scope) -> Type:
    sig = scope.env.functions.get(expr.func)
    if sig is None:
        for arg in expr.args:
            check_expr(arg.value, scope)
        hint = did_you_mean(expr.func, scope.env.functions)
        return _err(scope, expr.func_span, "unknown-function", f"unknown function '{expr.func}'{hint}")
    if sig.kinds is not None and scope.kind.name not in sig.kinds:
        kinds = ", ".join(sorted(sig.kinds))
        reachable = sorted(sig.kinds & set(scope.pack_kinds))
        hint = f'; narrow with event.kind == "{reachable[0]}" and ...' if reachable else ""
        _err(
            scope,
            expr.func_span,
            "kind",
            f"'{expr.func}' cannot serve {scope.kind.name} events (only {kinds}){hint}",
        )
    bound = bind_arguments(expr, sig, scope)
    if bound is not None and sig.validate is not None:
        consts = {name: _constant(value) for name, value in bound.items()}
        problem = sig.validate(consts)
        if problem:
            _err(scope, expr.span, "argument", f"{expr.func}(): {problem}")
    if expr.func in ("model", "anomaly") and expr.args:
        _check_model_ref(expr, scope)
    return sig.returns


def _check_model_ref(expr: ast.Call, scope: Scope) -> None:
    arg = expr.args[0].value
    if not (isinstance(arg, ast.Literal) and isinstance(arg.value, str)):
        return
    wanted = "classifier" if expr.func == "model" else "anomaly"
    kind = scope.models.get(arg.value)
    if kind is None:
        hint = did_you_mean(arg.value, scope.models)
        _err(scope, arg.span, "unknown-model", f"no model named '{arg.value}' in this pack{hint}")
    elif kind != wanted:
        other = "anomaly" if expr.func == "model" else "model"
        _err(scope, arg.span, "model-kind", f"'{arg.value}' is a {kind} model: use {other}(\"{arg.value}\")")


def bind_arguments(expr: ast.Call, sig: FunctionSig, scope: Scope) -> dict[str, ast.Expr] | None:
    """Match positional and named arguments to parameters and check their types."""
    bound: dict[str, ast.Expr] = {}
    ok = True
    params = list(sig.params)
    positional = [a for a in expr.args if a.name is None]
    named = [a for a in expr.args if a.name is not None]
    if named and expr.args.index(named[0]) < len(positional):
        _err(
            scope,
            named[0].span,
            "argument",
            f"{sig.name}(): positional arguments must come before named ones",
        )
        for arg in expr.args:
            check_expr(arg.value, scope)
        return None
    max_positional = None if sig.variadic else len(params)
    if max_positional is not None and len(positional) > max_positional:
        _err(
            scope,
            positional[max_positional].span,
            "arity",
            f"{sig.name}() takes at most {max_positional} argument{'s' if max_positional != 1 else ''}, "
            f"got {len(positional)}",
        )
        ok = False
    for index, arg in enumerate(positional):
        param = params[min(index, len(params) - 1)] if params else None
        if param is None:
            break
        key = param.name if index < len(params) else f"{param.name}{index}"
        bound[key] = arg.value
        ok &= _check_arg(arg, param, sig, scope)
    for arg in named:
        assert arg.name is not None
        param = next((p for p in params if p.name == arg.name), None)
        if param is None:
            hint = did_you_mean(arg.name, [p.name for p in params])
            _err(scope, arg.span, "argument", f"{sig.name}() has no parameter '{arg.name}'{hint}")
            check_expr(arg.value, scope)
            ok = False
            continue
        if arg.name in bound:
            _err(scope, arg.span, "argument", f"{sig.name}(): '{arg.name}' is given twice")
            ok = False
            continue
        bound[arg.name] = arg.value
        ok &= _check_arg(arg, param, sig, scope)
    missing = [p.name for p in params if p.required and p.name not in bound]
    if missing and ok:  # after a misnamed argument, "missing" would only repeat the same mistake
        needed = sum(1 for p in params if p.required)
        _err(
            scope,
            expr.span,
            "arity",
            f"{sig.name}() needs {needed} argument{'s' if needed != 1 else ''}; missing {', '.join(missing)}",
        )
        ok = False
    return bound if ok else None


def _check_arg(arg: ast.Arg, param: Any, sig: FunctionSig, scope: Scope) -> bool:
    if param.type == KEY and isinstance(arg.value, ast.ListExpr):
        # a composite key may mix types: [event.user_id, event.success]
        for item in arg.value.items:
            if check_expr(item, scope).name == "record":
                _err(scope, item.span, "argument-type", f"{sig.name}(): a key part must be a scalar")
        scope.types[(scope.kind.name, id(arg.value))] = list_of(ANY)
        return True
    t = check_expr(arg.value, scope)
    if not accepts(param.type, t):
        _err(
            scope,
            arg.value.span,
            "argument-type",
            f"{sig.name}(): '{param.name}' must be {param.type}, not {t}",
        )
        return False
    if param.const and _constant(arg.value) is None:
        _err(
            scope,
            arg.value.span,
            "argument",
            f"{sig.name}(): '{param.name}' must be a constant such as 10m or 2.5",
        )
        return False
    return True


def _constant(expr: ast.Expr) -> Any:
    if isinstance(expr, ast.Literal):
        return expr.value
    if isinstance(expr, ast.Duration):
        return expr.seconds
    return None


def _unary(expr: ast.Unary, scope: Scope) -> Type:
    t = check_expr(expr.operand, scope)
    if expr.op == "not":
        if t not in (BOOL, ANY, NULL):
            _err(scope, expr.operand.span, "type", f"'not' needs a boolean, not {t}")
        return BOOL
    if t not in (NUMBER, DURATION, ANY, NULL):
        return _err(scope, expr.operand.span, "type", f"'-' needs a number or a duration, not {t}")
    return t if t != NULL else NUMBER


_ARITH: dict[tuple[str, str, str], Type] = {}
for _op in "+-*/%":
    _ARITH[(_op, "number", "number")] = NUMBER
for _op in "+-":
    _ARITH[(_op, "duration", "duration")] = DURATION
    _ARITH[(_op, "timestamp", "duration")] = TIMESTAMP
_ARITH[("-", "timestamp", "timestamp")] = DURATION
_ARITH[("*", "duration", "number")] = DURATION
_ARITH[("*", "number", "duration")] = DURATION
_ARITH[("/", "duration", "number")] = DURATION
_ARITH[("/", "duration", "duration")] = NUMBER
_ARITH[("+", "string", "string")] = STRING


def _binary(expr: ast.Binary, scope: Scope) -> Type:
    if expr.op in ("and", "or"):
        left = check_expr(expr.left, scope)
        fixed = static_bool(expr.left, scope.kind.name, scope.lets)
        # narrowing: the right side is never evaluated for this kind, so it is not checked for it
        if not ((expr.op == "and" and fixed is False) or (expr.op == "or" and fixed is True)):
            right = check_expr(expr.right, scope)
            if right not in (BOOL, ANY, NULL):
                _err(scope, expr.right.span, "type", f"'{expr.op}' needs booleans on both sides, not {right}")
        if left not in (BOOL, ANY, NULL):
            _err(scope, expr.left.span, "type", f"'{expr.op}' needs booleans on both sides, not {left}")
        return BOOL
    left = check_expr(expr.left, scope)
    right = check_expr(expr.right, scope)
    if ANY in (left, right) or NULL in (left, right):
        known = right if left in (ANY, NULL) else left
        return NUMBER if known in (ANY, NULL) else known
    result = _ARITH.get((expr.op, left.name, right.name))
    if result is None:
        return _err(scope, expr.span, "type", f"cannot apply '{expr.op}' to {left} and {right}")
    return result


def _compare(expr: ast.Compare, scope: Scope) -> Type:
    left = check_expr(expr.left, scope)
    right = check_expr(expr.right, scope)
    if expr.op in ("in", "not in"):
        if right.name == "list" and right.elem is not None:
            if not compatible(left, right.elem):
                _err(scope, expr.span, "type", f"'{expr.op}' compares {left} with a list of {right.elem}")
        elif right not in (ANY, NULL):
            _err(scope, expr.right.span, "type", f"'{expr.op}' needs a list on its right, not {right}")
        return BOOL
    if (isinstance(expr.right, ast.Literal) and expr.right.value is None) or (
        isinstance(expr.left, ast.Literal) and expr.left.value is None
    ):
        _err(
            scope,
            expr.span,
            "null-compare",
            f"'{expr.op} null' is always null; use 'is null' or 'is not null'",
        )
        return BOOL
    if expr.op in ("==", "!="):
        if not compatible(left, right):
            _err(scope, expr.op_span or expr.span, "type", f"cannot compare {left} with {right}")
        return BOOL
    _require_ordered(scope, expr, left, right, expr.op)
    return BOOL


def _sides(expr: ast.Expr) -> tuple[ast.Expr, ...]:
    if isinstance(expr, ast.Compare):
        return (expr.left, expr.right)
    if isinstance(expr, ast.Between):
        return (expr.subject, expr.low, expr.high)
    return ()


def _is_number_literal(expr: ast.Expr) -> bool:
    return (
        isinstance(expr, ast.Literal)
        and isinstance(expr.value, int | float)
        and not isinstance(expr.value, bool)
    )


def _require_ordered(scope: Scope, expr: ast.Expr, left: Type, right: Type, op: str) -> None:
    span = expr.op_span if isinstance(expr, ast.Compare) and expr.op_span.line else expr.span
    if left not in _ORDERED or right not in _ORDERED:
        bad = left if left not in _ORDERED else right
        _err(scope, span, "type", f"'{op}' needs numbers, durations, strings or timestamps, not {bad}")
    elif not compatible(left, right):
        hint = (
            " (write durations as 30s, 10m, 1h, 7d)"
            if {left, right} == {DURATION, NUMBER} and any(_is_number_literal(side) for side in _sides(expr))
            else ""
        )
        _err(scope, span, "type", f"cannot compare {left} with {right}{hint}")
