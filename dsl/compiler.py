"""Compiles a checked pack to Python source: one specialised batch evaluator per event kind.

Each kind gets its own function, so ``event.kind == "login"`` is a constant there and
narrowed-away rules cost nothing. Boolean conditions compile in two polarities:
``T(e)`` is true exactly when ``e`` is true and ``F(e)`` exactly when it is false, so
SQL's three-valued logic (null neither true nor false) needs no run-time null
objects. Values that may be null compile to ``V(e)``, which yields ``None`` for null.
Lets and detector calls are cached per event and computed only when first needed.

Event data is never code: fields are read into locals and compared as values;
the only text spliced into the generated source is produced by ``repr`` of
literals from the pack itself.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dsl import ast
from dsl.analysis import CheckedPack, RuleInfo
from dsl.check_exprs import static_bool
from dsl.formatter import expr_source
from dsl.types import ANY, DURATION, TIMESTAMP, KindSchema, Type

_ORDER_OPS = {"<", "<=", ">", ">="}
_NEGATE = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}


@dataclass(frozen=True)
class DetectorCall:
    """One detector call site, resolved: which function, its constants and dynamic arguments."""

    func: str
    consts: tuple[tuple[str, Any], ...]
    #: source text of the dynamic arguments (they identify the shared state)
    dynamic: tuple[str, ...]
    #: event field paths the detector reads besides its arguments
    inputs: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class FamilySpec:
    """What the compiler must know of a detector state family (the engine defines families)."""

    name: str
    #: event fields recorded for each event of a kind whose rules call the family's detectors
    inputs: tuple[tuple[str, ...], ...] = ()
    #: whether those events are recorded at all (a position log is fed only by positions)
    observes: bool = True
    #: kinds whose events feed the family: kind -> (key field, recorded fields)
    feeds: dict[str, tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]] = field(default_factory=dict)
    #: for a family read without a key argument, the event field holding the entity it reads
    query_key: tuple[str, ...] | None = None


@dataclass
class KindPlan:
    """What the evaluator of one kind needs linked in."""

    kind: str
    fields: list[tuple[str, ...]] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    uses_time: bool = False


@dataclass
class CompiledSource:
    """The generated module and what must be bound into its namespace before it runs."""

    code: str
    constants: dict[str, Any]
    detector_calls: list[DetectorCall]
    #: group name -> (family function name, dynamic arg source texts, input paths)
    groups: dict[str, tuple[str, tuple[str, ...], tuple[tuple[str, ...], ...]]]
    kinds: dict[str, KindPlan]
    managed_lists: dict[str, str]
    models: list[str]
    #: kinds the pack does not decide on whose events feed its detector state
    feed_kinds: list[str] = field(default_factory=list)


class _Emitter:
    """Builds the body of one kind's evaluator."""

    def __init__(self, unit: _Unit, kind: str) -> None:
        self.unit = unit
        self.kind = kind
        self.fields: dict[tuple[str, ...], str] = {}
        self.lets: dict[str, str] = {}
        #: one cached local per distinct detector call, shared by every rule that makes it
        self.detectors: dict[DetectorCall, str] = {}
        self.models: dict[str, str] = {}
        self.groups: dict[str, str] = {}
        self.temp = 0
        self.uses_time = False
        #: the query each detector local caches, for evaluators that compute them eagerly
        self.detector_code: dict[str, str] = {}
        #: per model of the pack: the code of its feature row for this kind
        self.features: dict[str, str] = {}

    # ---- names
    def tmp(self) -> str:
        self.temp += 1
        return f"_t{self.temp}"

    def field(self, path: tuple[str, ...]) -> str:
        if path == ("timestamp",):
            self.uses_time = True
        local = self.fields.get(path)
        if local is None:
            local = f"f_{'__'.join(path)}"
            self.fields[path] = local
        return local

    def type_of(self, expr: ast.Expr) -> Type:
        return self.unit.checked.type_of(self.kind, expr) or ANY

    # ---- values
    def value(self, expr: ast.Expr) -> str:
        if isinstance(expr, ast.Literal):
            return _literal_code(expr.value)
        if isinstance(expr, ast.Binary | ast.Unary | ast.Compare) and expr_is_boolean(expr):
            fixed = static_bool(expr, self.kind, self.unit.checked.lets)
            if fixed is not None:
                return repr(fixed)  # narrowed: the other side is never evaluated for this kind
        if isinstance(expr, ast.Duration):
            return repr(float(expr.seconds))
        if isinstance(expr, ast.Field):
            if expr.path == ("kind",):
                return repr(self.kind)
            return self.field(expr.path)
        if isinstance(expr, ast.Name):
            return self.name(expr.name)
        if isinstance(expr, ast.ScoreRef):
            return "score"
        if isinstance(expr, ast.ListExpr):
            return self.list_value(expr)
        if isinstance(expr, ast.Call):
            return self.call(expr)
        if isinstance(expr, ast.Unary):
            inner = self.value(expr.operand)
            t = self.tmp()
            if expr.op == "not":
                return f"(None if ({t} := {inner}) is None else not {t})"
            if self.type_of(expr.operand) == ANY:
                return f"_neg({inner})"
            return f"(None if ({t} := {inner}) is None else -{t})"
        if isinstance(expr, ast.Binary):
            return self.binary_value(expr)
        if isinstance(expr, ast.Compare | ast.Matches | ast.Between):
            return self.cond_value(expr)
        if isinstance(expr, ast.IsNull):
            return self.truth(expr)
        raise AssertionError(type(expr).__name__)

    def name(self, name: str) -> str:
        checked = self.unit.checked
        if name in checked.lists:
            return self.unit.list_constant(name)
        local = self.lets.get(name)
        if local is None:
            local = f"l_{name}"
            self.lets[name] = local
        inner = self.value(checked.lets[name].expr)
        return f"({local} if {local} is not _U else ({local} := {inner}))"

    def list_value(self, expr: ast.ListExpr) -> str:
        if all(isinstance(i, ast.Literal | ast.Duration) for i in expr.items):
            values = [
                i.value if isinstance(i, ast.Literal) else float(getattr(i, "seconds", 0)) for i in expr.items
            ]
            return self.unit.constant(frozenset(v for v in values if v is not None), "S")
        return "(" + "".join(f"{self.value(i)}, " for i in expr.items) + ")"

    def binary_value(self, expr: ast.Binary) -> str:
        a, b = self.tmp(), self.tmp()
        left, right = self.value(expr.left), self.value(expr.right)
        if expr.op == "and":
            return (
                f"(False if ({a} := {left}) is False else (False if ({b} := {right}) is False else "
                f"(None if {a} is None or {b} is None else True)))"
            )
        if expr.op == "or":
            return (
                f"(True if ({a} := {left}) is True else (True if ({b} := {right}) is True else "
                f"(None if {a} is None or {b} is None else False)))"
            )
        if expr.op in ("/", "%"):
            helper = "_div" if expr.op == "/" else "_mod"
            return f"{helper}({left}, {right})"
        if ANY in (self.type_of(expr.left), self.type_of(expr.right)):
            return f"_arith({expr.op!r}, {left}, {right})"
        if TIMESTAMP in (self.type_of(expr.left), self.type_of(expr.right)):
            return f"_time_arith({expr.op!r}, {left}, {right})"
        return f"(None if ({a} := {left}) is None or ({b} := {right}) is None else {a} {expr.op} {b})"

    def cond_value(self, expr: ast.Expr) -> str:
        return f"(True if {self.truth(expr)} else (False if {self.falsity(expr)} else None))"

    def call(self, expr: ast.Call) -> str:
        unit = self.unit
        if expr.func in ("model", "anomaly"):
            arg = expr.args[0].value
            assert isinstance(arg, ast.Literal) and isinstance(arg.value, str)
            local = self.models.get(arg.value)
            if local is None:
                local = f"m_{len(self.models)}"
                self.models[arg.value] = local
                unit.models.add(arg.value)
            return f"({local} if {local} is not _U else ({local} := _model({arg.value!r})))"
        sig = unit.checked.env.functions[expr.func]
        if not sig.stateful:
            args = ", ".join(self.value(a.value) for a in expr.args)
            return f"{unit.builtin(expr.func)}({args})"
        call, nodes = unit.detector_call(expr, sig)
        local = self.detectors.get(call)
        if local is None:
            local = f"d_{len(self.detectors)}"
            self.detectors[call] = local
        group = unit.group_of(call, nodes)
        self.groups[group] = group
        self.uses_time = True
        index = unit.detector_calls.index(call)
        extra = [f"{group}_a{i}" for i in range(1, len(call.dynamic))]
        inputs = [self.input(path) for path in call.inputs]
        key = f"{group}_a0" if call.dynamic else "None"
        args = ", ".join([key, "ts", *extra, *inputs])
        self.detector_code[local] = f"_q{index}({args})"
        return f"({local} if {local} is not _U else ({local} := _q{index}({args})))"

    def input(self, path: tuple[str, ...]) -> str:
        kind_type = self.unit.checked.env.kinds[self.kind].fields
        current: Type | None = kind_type
        for segment in path:
            current = current.field(segment) if current is not None else None
        return self.field(path) if current is not None else "None"

    # ---- conditions
    def truth(self, expr: ast.Expr) -> str:
        fixed = static_bool(expr, self.kind, self.unit.checked.lets)
        if fixed is not None:
            return repr(fixed)
        if isinstance(expr, ast.Binary) and expr.op == "and":
            return f"({self.truth(expr.left)} and {self.truth(expr.right)})"
        if isinstance(expr, ast.Binary) and expr.op == "or":
            return f"({self.truth(expr.left)} or {self.truth(expr.right)})"
        if isinstance(expr, ast.Unary) and expr.op == "not":
            return self.falsity(expr.operand)
        if isinstance(expr, ast.IsNull):
            return self.is_null(expr, True)
        if isinstance(expr, ast.Compare):
            return self.compare(expr, expr.op)
        if isinstance(expr, ast.Matches):
            subject, bind = self.operand(expr.subject)
            pattern = self.unit.regex(expr.pattern)
            return f"(isinstance({bind or subject}, str) and {pattern}.search({subject}) is not None)"
        if isinstance(expr, ast.Between):
            return self.between(expr, True)
        return f"({self.value(expr)} is True)"

    def falsity(self, expr: ast.Expr) -> str:
        fixed = static_bool(expr, self.kind, self.unit.checked.lets)
        if fixed is not None:
            return repr(not fixed)
        if isinstance(expr, ast.Binary) and expr.op == "and":
            return f"({self.falsity(expr.left)} or {self.falsity(expr.right)})"
        if isinstance(expr, ast.Binary) and expr.op == "or":
            return f"({self.falsity(expr.left)} and {self.falsity(expr.right)})"
        if isinstance(expr, ast.Unary) and expr.op == "not":
            return self.truth(expr.operand)
        if isinstance(expr, ast.IsNull):
            return self.is_null(expr, False)
        if isinstance(expr, ast.Compare):
            negated = {"in": "not in", "not in": "in"}.get(expr.op) or _NEGATE[expr.op]
            return self.compare(expr, negated)
        if isinstance(expr, ast.Matches):
            subject, bind = self.operand(expr.subject)
            pattern = self.unit.regex(expr.pattern)
            return f"(isinstance({bind or subject}, str) and {pattern}.search({subject}) is None)"
        if isinstance(expr, ast.Between):
            return self.between(expr, False)
        return f"({self.value(expr)} is False)"

    def operand(self, expr: ast.Expr) -> tuple[str, str | None]:
        """An operand's code and, unless it is a plain local or constant, the binding of a temporary."""
        code = self.value(expr)
        if code.isidentifier() or isinstance(expr, ast.Literal | ast.Duration):
            return code, None
        t = self.tmp()
        return t, f"({t} := {code})"

    def nullable(self, node: ast.Expr) -> bool:
        if isinstance(node, ast.Literal | ast.Duration | ast.ListExpr | ast.ScoreRef):
            return False
        return not (isinstance(node, ast.Name) and node.name in self.unit.checked.lists)

    def _constant(self, node: ast.Expr) -> bool:
        """A non-null constant: a literal, a list of literals, or a declared list."""
        if isinstance(node, ast.Literal):
            return node.value is not None
        if isinstance(node, ast.ListExpr):
            return all(isinstance(i, ast.Literal | ast.Duration) for i in node.items)
        return isinstance(node, ast.Name) and node.name in self.unit.checked.lists

    def _plain_scalar(self, node: ast.Expr) -> bool:
        """A string, number or boolean operand (compares by value, never raises)."""
        return self.type_of(node).name in ("string", "number", "boolean")

    def guards(self, operands: list[tuple[str, str | None, ast.Expr]]) -> list[str]:
        """Left to right: bind each temporary, and stop at the first null operand."""
        out: list[str] = []
        for code, bind, node in operands:
            if bind is not None:
                out.append(f"{bind} is not None" if self.nullable(node) else f"({bind} or True)")
            elif self.nullable(node):
                out.append(f"{code} is not None")
        return out

    def compare(self, expr: ast.Compare, op: str) -> str:
        """True exactly when ``left op right`` is true (both sides non-null)."""
        left, lbind = self.operand(expr.left)
        right, rbind = self.operand(expr.right)
        guards = self.guards([(left, lbind, expr.left), (right, rbind, expr.right)])
        if op in ("==", "in") and self._plain_scalar(expr.left) and self._constant(expr.right):
            # null == "x" and null in {...} are False in Python too: no guard needed
            return f"({left} {op} {right})" if lbind is None else f"({lbind} {op} {right})"
        if op in ("in", "not in"):
            test = f"{left} {op} {right}"
            if self.type_of(expr.left) == ANY:
                test = f"_contains({left}, {right}, {op == 'in'})"
        elif op in _ORDER_OPS and ANY in (self.type_of(expr.left), self.type_of(expr.right)):
            test = f"_order({op!r}, {left}, {right})"
        else:
            test = f"{left} {op} {right}"
        return "(" + " and ".join([*guards, test]) + ")"

    def between(self, expr: ast.Between, truth: bool) -> str:
        operands = [(*self.operand(e), e) for e in (expr.subject, expr.low, expr.high)]
        guards = self.guards(operands)
        subject, low, high = (o[0] for o in operands)
        if ANY in (self.type_of(expr.subject), self.type_of(expr.low), self.type_of(expr.high)):
            # unorderable values make the test null: neither it nor its negation holds
            if truth:
                test = f"_order('<=', {low}, {subject}) and _order('<=', {subject}, {high})"
            else:
                test = f"(_order('>', {low}, {subject}) or _order('>', {subject}, {high}))"
            return "(" + " and ".join([*guards, test]) + ")"
        test = f"{low} <= {subject} <= {high}"
        return "(" + " and ".join([*guards, test if truth else f"not ({test})"]) + ")"

    def is_null(self, expr: ast.IsNull, truth: bool) -> str:
        if isinstance(expr.subject, ast.Literal | ast.Duration | ast.ListExpr):
            is_null = isinstance(expr.subject, ast.Literal) and expr.subject.value is None
            return repr(is_null != expr.negated if truth else is_null == expr.negated)
        positive = expr.negated != truth  # "is None" when this polarity means the value is null
        return f"({self.value(expr.subject)} is {'' if positive else 'not '}None)"


def _literal_code(value: Any) -> str:
    """Python source for a literal; non-finite floats have no literal of their own."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({repr(value)!r})"
    return repr(value)


def expr_is_boolean(expr: ast.Expr) -> bool:
    return (
        (isinstance(expr, ast.Binary) and expr.op in ("and", "or"))
        or (isinstance(expr, ast.Unary) and expr.op == "not")
        or isinstance(expr, ast.Compare)
    )


class _Unit:
    """State shared by the evaluators of one pack: constants, regexes, detector groups."""

    def __init__(self, checked: CheckedPack) -> None:
        self.checked = checked
        self.constants: dict[str, Any] = {}
        self._constant_ids: dict[Any, str] = {}
        self.detector_calls: list[DetectorCall] = []
        self.groups: dict[str, tuple[str, tuple[str, ...], tuple[tuple[str, ...], ...]]] = {}
        self._group_by_key: dict[tuple[str, tuple[str, ...]], str] = {}
        self.managed: dict[str, str] = {}
        self.models: set[str] = set()
        self.family_of: Callable[[str], FamilySpec] = FamilySpec
        self.family_specs: dict[str, FamilySpec] = {}
        #: the argument nodes of the first call site of each group (its key expressions)
        self.group_nodes: dict[str, tuple[ast.Expr, ...]] = {}

    def constant(self, value: Any, prefix: str = "C") -> str:
        key = (
            prefix,
            type(value).__name__,
            repr(sorted(map(repr, value)) if isinstance(value, frozenset) else value),
        )
        name = self._constant_ids.get(key)
        if name is None:
            name = f"_{prefix}{len(self.constants)}"
            self.constants[name] = value
            self._constant_ids[key] = name
        return name

    def regex(self, pattern: str) -> str:
        return self.constant(("regex", pattern), "R")

    def builtin(self, name: str) -> str:
        return f"_fn_{name}"

    def list_constant(self, name: str) -> str:
        decl = self.checked.lists[name]
        if decl.managed is not None:
            self.managed[name] = decl.managed
            return f"_list_{name}"
        assert decl.items is not None
        values = [
            i.value if isinstance(i, ast.Literal) else getattr(i, "seconds", None) for i in decl.items.items
        ]
        return self.constant(frozenset(v for v in values if v is not None), "S")

    def detector_call(self, expr: ast.Call, sig: Any) -> tuple[DetectorCall, tuple[ast.Expr, ...]]:
        params = list(sig.params)
        bound: dict[str, ast.Expr] = {}
        positional = [a for a in expr.args if a.name is None]
        for param, arg in zip(params, positional, strict=False):
            bound[param.name] = arg.value
        for arg in expr.args:
            if arg.name is not None:
                bound[arg.name] = arg.value
        consts: list[tuple[str, Any]] = []
        dynamic: list[str] = []
        nodes: list[ast.Expr] = []
        for param in params:
            node = bound.get(param.name)
            if param.const:
                if node is None:
                    consts.append((param.name, param.default))
                elif isinstance(node, ast.Duration):
                    consts.append((param.name, float(node.seconds)))
                else:
                    assert isinstance(node, ast.Literal)
                    consts.append((param.name, node.value))
            elif node is not None:
                dynamic.append(expr_source(node))
                nodes.append(node)
            else:
                default = ast.Literal(param.default)
                dynamic.append(expr_source(default))
                nodes.append(default)
        call = DetectorCall(expr.func, tuple(consts), tuple(dynamic), sig.inputs)
        if call not in self.detector_calls:
            self.detector_calls.append(call)
        return call, tuple(nodes)

    def group_of(self, call: DetectorCall, nodes: tuple[ast.Expr, ...] = ()) -> str:
        spec = self.family_of(call.func)
        self.family_specs[spec.name] = spec
        family, inputs = spec.name, spec.inputs
        key = (family, call.dynamic)
        name = self._group_by_key.get(key)
        if name is None:
            name = f"_g{len(self._group_by_key)}"
            self._group_by_key[key] = name
            self.groups[name] = (family, call.dynamic, inputs)
            self.group_nodes[name] = nodes
        return name


def compile_pack(checked: CheckedPack, family_of: Callable[[str], FamilySpec]) -> CompiledSource:
    """Generate the module for a checked pack.

    ``family_of`` maps a detector to its state family: the fields the family records
    and the other kinds whose events feed it.
    """
    unit = _Unit(checked)
    unit.family_of = family_of
    bodies = [_kind_body(unit, kind) for kind in checked.kinds]
    feeds = _feeds_by_kind(unit)
    functions: list[str] = []
    plans: dict[str, KindPlan] = {}
    for em, body, outcome in bodies:
        text, plan = _kind_function(unit, em, body, outcome, feeds.get(em.kind, []))
        functions.append(text)
        plans[em.kind] = plan
    feed_only: list[str] = []
    for kind, groups in feeds.items():
        if kind not in checked.kinds and kind in checked.env.kinds:
            functions.append(_feed_function(unit, kind, groups))
            feed_only.append(kind)
    for kind in [*checked.kinds, *feed_only]:
        reads = plans[kind].groups if kind in plans else []
        functions.append(_keys_function(unit, kind, reads, feeds.get(kind, [])))
    header = [
        f"# generated by vigil from pack {checked.name} {checked.version}; do not edit",
        "_U = _UNSET",
    ]
    code = "\n".join(header) + "\n\n" + "\n\n".join(functions) + "\n"
    return CompiledSource(
        code,
        unit.constants,
        unit.detector_calls,
        unit.groups,
        plans,
        unit.managed,
        sorted(unit.models),
        feed_only,
    )


def _feeds_by_kind(unit: _Unit) -> dict[str, list[str]]:
    """For every kind, the groups whose family is fed by events of that kind."""
    feeds: dict[str, list[str]] = {}
    for group, (family, _, _) in unit.groups.items():
        for kind in unit.family_specs[family].feeds:
            feeds.setdefault(kind, []).append(group)
    return feeds


def _feed_lines(unit: _Unit, em: _Emitter, groups: list[str]) -> list[str]:
    lines: list[str] = []
    for group in groups:
        family = unit.groups[group][0]
        key_path, input_paths = unit.family_specs[family].feeds[em.kind]
        args = [em.input(key_path), "ts", *(em.input(p) for p in input_paths)]
        lines.append(f"_feed_{group}({', '.join(args)})")
    if lines:
        em.uses_time = True
    return lines


def _feed_function(unit: _Unit, kind: str, groups: list[str]) -> str:
    """Events of a kind the pack does not decide on still feed the state its detectors read."""
    em = _Emitter(unit, kind)
    feed = _feed_lines(unit, em, groups)
    schema = unit.checked.env.kinds[kind]
    lines = [f"def _feed_{kind}(events, _ctx, _mapping):", "    for ev in events:"]
    lines.extend("        " + line for line in _read_fields(dict(em.fields), schema))
    lines.append("        ts = _epoch(ev_timestamp)")
    lines.extend("        " + line for line in feed)
    return "\n".join(lines)


def _keys_function(unit: _Unit, kind: str, reads: list[str], fed: list[str]) -> str:
    """``_keys_<kind>(events, _ctx, _mapping)``: the entity keys of every state group a batch touches.

    A shared store loads exactly these entities before the batch is evaluated. The keys
    are computed as the evaluator computes them; a group whose state is not per key
    (or not keyed by the event) maps to an empty set.
    """
    em = _Emitter(unit, kind)
    per_group: dict[str, list[str]] = {}
    for group in reads:
        family, dynamic, _ = unit.groups[group]
        spec = unit.family_specs[family]
        if dynamic:
            per_group.setdefault(group, []).append(_key_code(em, unit.group_nodes[group][0], kind))
        elif spec.query_key is not None:
            per_group.setdefault(group, []).append(em.input(spec.query_key))
        else:
            per_group.setdefault(group, [])
    for group in fed:
        family = unit.groups[group][0]
        key_path = unit.family_specs[family].feeds[kind][0]
        per_group.setdefault(group, []).append(em.input(key_path))
    schema = unit.checked.env.kinds[kind]
    lines = [f"def _keys_{kind}(events, _ctx, _mapping):"]
    lines.extend(f"    _k{group} = set()" for group in per_group)
    adds = [f"_k{group}.add({code})" for group, codes in per_group.items() for code in codes]
    if adds:
        lines.append("    for ev in events:")
        lines.extend("        " + line for line in _read_fields(dict(em.fields), schema))
        lines.extend(f"        {local} = _U" for local in [*em.lets.values(), *em.detectors.values()])
        lines.extend("        " + line for line in adds)
    lines.extend(f"    _k{group}.discard(None)" for group in per_group)
    lines.append("    return {" + ", ".join(f"{group!r}: _k{group}" for group in per_group) + "}")
    return "\n".join(lines)


def _read_fields(fields: dict[tuple[str, ...], str], schema: KindSchema) -> list[str]:
    """Struct events read attributes; mappings try plain subscripts and fall back to lookups."""
    lines = ["if _mapping:", "    try:"]
    lines.extend("        " + line for line in _prologue(fields, "fast", schema))
    lines.append("    except (KeyError, TypeError, IndexError):")
    lines.extend("        " + line for line in _prologue(fields, "safe", schema))
    lines.append("else:")
    lines.extend("    " + line for line in _prologue(fields, "struct", schema))
    return lines


def _kind_body(unit: _Unit, kind: str) -> tuple[_Emitter, list[str], str]:
    em = _Emitter(unit, kind)
    body: list[str] = []
    # rules that read a model score come last: the two-pass evaluator runs them in its second pass
    ordered = sorted(unit.checked.rules, key=lambda r: _reads_model(r.when, unit.checked))
    for rule in ordered:
        lines = _rule_code(em, rule)
        if lines and _reads_model(rule.when, unit.checked):
            lines[0] = "# model rule " + lines[0][2:]
        body.extend(lines)
    outcome = _outcome_code(em)
    for name, model in unit.checked.models.items():
        # the same compiled expressions serve training (Engine.features) and scoring
        em.features[name] = "[" + ", ".join(_feature_code(em, f) for f in model.features) + "]"
    return em, body, outcome


def _feature_code(em: _Emitter, expr: ast.Expr) -> str:
    """A feature as a float: booleans 0/1, null NaN (``any`` values through ``_num``)."""
    t = em.type_of(expr)
    code = em.value(expr)
    if t.name == "number" or t == DURATION:
        tmp = em.tmp()
        return f"(_NAN if ({tmp} := {code}) is None else float({tmp}))"
    if t.name == "boolean":
        tmp = em.tmp()
        return f"(_NAN if ({tmp} := {code}) is None else (1.0 if {tmp} else 0.0))"
    return f"_num({code})"


def _reads_model(expr: ast.Expr | None, checked: CheckedPack, seen: frozenset[str] = frozenset()) -> bool:
    """Whether an expression reads ``model(...)`` or ``anomaly(...)``, directly or through lets."""
    if expr is None:
        return False
    if isinstance(expr, ast.Call) and expr.func in ("model", "anomaly"):
        return True
    if isinstance(expr, ast.Name) and expr.name in checked.lets and expr.name not in seen:
        return _reads_model(checked.lets[expr.name].expr, checked, seen | {expr.name})
    for name in expr.__struct_fields__:
        value = getattr(expr, name)
        children = value if isinstance(value, tuple) else (value,)
        for child in children:
            if isinstance(child, ast.Arg):
                child = child.value
            if isinstance(child, ast.Node) and _reads_model(child, checked, seen):  # type: ignore[arg-type]
                return True
    return False


def _kind_function(
    unit: _Unit, em: _Emitter, body: list[str], outcome: str, feed_groups: list[str]
) -> tuple[str, KindPlan]:
    checked = unit.checked
    kind = em.kind
    # the keys and extra arguments of every state group this kind's rules read
    group_lines: list[str] = []
    observe: list[str] = []
    for group in em.groups:
        family, dynamic, inputs = unit.groups[group]
        for i, node in enumerate(unit.group_nodes[group]):
            group_lines.append(f"{group}_a{i} = {_key_code(em, node, kind)}")
        if not unit.family_specs[family].observes:
            continue
        args = [f"{group}_a{i}" for i in range(len(dynamic))] or ["None"]
        recorded = [em.input(path) for path in inputs]
        observe.append(f"_obs_{group}({', '.join([args[0], 'ts', *args[1:], *recorded])})")
    observe.extend(_feed_lines(unit, em, feed_groups))
    uses_time = em.uses_time or any(r.shadow_until for r in checked.rules) or bool(em.features)
    fresh = [f"{local} = _U" for local in [*em.lets.values(), *em.detectors.values(), *em.models.values()]]
    fields = dict(em.fields)
    read = _read_fields(fields, checked.env.kinds[kind])
    clock = ["ts = _epoch(ev_timestamp)"] if uses_time else []
    head = ["    out = []", "    _append = out.append", "    _model = _ctx.model_score"]
    for name in sorted(unit.managed):
        if any(f"_list_{name}" in line for line in body + [outcome]):
            head.append(f"    _list_{name} = _ctx.lists.get({unit.managed[name]!r}, _EMPTY_SET)")
    decide = [
        "hits = None",
        "shadow = None",
        "effects = None",
        "score = 0",
        "forced = 0",
        "allow = False",
        *body,
        "if hits is None and shadow is None:",
        f"    {_quiet_outcome(em, outcome)}",
        "    _append(_Decision(ev_id, outcome, 0, _RISK0, None, (), (), (), _PACK))",
        "else:",
        f"    {outcome}",
        *_decision_lines(checked),
    ]
    single = ["    for ev in events:"]
    single.extend("        " + line for line in [*read, *clock, *group_lines, *fresh, *decide, *observe])
    lines = [f"def _eval_{kind}(events, _ctx, _mapping):"]
    if not em.models:
        lines += [*head, *single]
    else:
        # with no model active for this kind, model() is null: one lazy pass, no feature rows
        names = tuple(em.models)
        lines.append(f"    if _ctx.models.keys().isdisjoint({names!r}):")
        lines.append(f"        return _eval1_{kind}(events, _ctx, _mapping)")
        lines += head
        # model scores come from one call per batch: the first pass runs the rules that need
        # no score (lazily, as usual), keeps the detector values the model rules will read,
        # collects feature rows and advances state; the second pass runs the model rules
        end = decide.index("if hits is None and shadow is None:")
        split = next((i for i, line in enumerate(decide) if line.startswith("# model rule ")), end)
        free, model_rules, finish = decide[:split], decide[split:end], decide[end:]
        wanted = sorted(set(re.findall(r"\bd_\d+\b", "\n".join(model_rules))), key=lambda d: int(d[2:]))
        kept = ["hits", "shadow", "effects", "score", "forced", "allow", *wanted]
        lines.append("    _cache = []")
        lines.extend(f"    _rows{i} = []" for i in range(len(em.models)))
        lines.append("    for ev in events:")
        first = [*read, *clock, *group_lines, *fresh, *free]
        for local in wanted:
            first += [f"if {local} is _U:", f"    {local} = {em.detector_code[local]}"]
        first += [f"_rows{i}.append({em.features[name]})" for i, name in enumerate(em.models)]
        first += [f"_cache.append(({', '.join(kept)}))", *observe]
        lines.extend("        " + line for line in first)
        lines.extend(
            f"    _scores{i} = _ctx.score_batch({name!r}, _rows{i})" for i, name in enumerate(em.models)
        )
        lines.append("    for _j, ev in enumerate(events):")
        second = [*read, *clock, *(f"{local} = _U" for local in em.lets.values())]
        second.append(f"{', '.join(kept)} = _cache[_j]")
        second += [f"{local} = _scores{i}[_j]" for i, local in enumerate(em.models.values())]
        lines.extend("        " + line for line in [*second, *model_rules, *finish])
    lines.append("    return out")
    if em.models:
        lines += ["", "", f"def _eval1_{kind}(events, _ctx, _mapping):", *head, *single, "    return out"]
    if em.features:
        lines.append("")
        lines.append("")
        lines.extend(_features_function(em, read, clock, group_lines, fresh, observe))
    plan = KindPlan(kind, list(fields), list(em.groups), uses_time)
    return "\n".join(lines), plan


def _decision_lines(checked: CheckedPack) -> list[str]:
    """The statement appending the Decision of an event that hit at least one rule."""
    medium, high, critical = checked.risk
    risk = (
        f"('critical' if score >= {critical!r} else 'high' if score >= {high!r} "
        f"else 'medium' if score >= {medium!r} else 'low')"
    )
    return [
        f"    _append(_Decision(ev_id, outcome, score, {risk}, 'allow' if allow else _VERDICTS[forced], "
        "tuple(hits) if hits else (), tuple(shadow) if shadow else (), tuple(effects) if effects else (), _PACK))"
    ]


def _features_function(
    em: _Emitter,
    read: list[str],
    clock: list[str],
    group_lines: list[str],
    fresh: list[str],
    observe: list[str],
) -> list[str]:
    """``_features_<kind>``: every model's feature rows, advancing state as the evaluator does."""
    names = list(em.features)
    lines = [f"def _features_{em.kind}(events, _ctx, _mapping):"]
    lines.extend(f"    _rows{i} = []" for i in range(len(names)))
    lines.append("    for ev in events:")
    body = [*read, *clock, *group_lines, *fresh]
    body += [f"_rows{i}.append({em.features[name]})" for i, name in enumerate(names)]
    lines.extend("        " + line for line in [*body, *observe])
    lines.append("    return {" + ", ".join(f"{name!r}: _rows{i}" for i, name in enumerate(names)) + "}")
    return lines


def _key_code(em: _Emitter, node: ast.Expr, kind: str) -> str:
    if isinstance(node, ast.ListExpr):
        parts = [em.value(i) for i in node.items]
        temps = [em.tmp() for _ in parts]
        binds = " or ".join(f"({t} := {p}) is None" for t, p in zip(temps, parts, strict=True))
        return f"(None if {binds} else ({', '.join(temps)},))"
    return em.value(node)


def _prologue(fields: dict[tuple[str, ...], str], mode: str, schema: KindSchema) -> list[str]:
    """Read the fields the evaluator uses into locals.

    ``mode`` is ``struct`` (a decoded event), ``fast`` (a mapping with every key present:
    plain subscripts) or ``safe`` (a mapping that may lack keys or hold nulls).
    """

    def key(name: str) -> str:
        return repr(schema.wire_name(name))

    def top(name: str) -> str:
        if mode == "struct":
            return f"ev.{name}"
        return f"ev[{key(name)}]" if mode == "fast" else f"ev.get({key(name)})"

    lines = [f"ev_id = {top('id')}", f"ev_timestamp = {top('timestamp')}"]
    parents: dict[tuple[str, ...], str] = {}
    for path, local in fields.items():
        if path == ("timestamp",):
            lines.append(f"{local} = {'ev_timestamp' if mode == 'struct' else '_to_datetime(ev_timestamp)'}")
        elif path[0] == "attributes":
            base = "ev.attributes" if mode == "struct" else f"ev.get({key('attributes')})"
            lines.append(f"{local} = _dig({base}, {path[1:]!r})")
        elif len(path) == 1:
            lines.append(f"{local} = {top(path[0])}")
        else:
            parent = path[:-1]
            holder = parents.get(parent)
            if holder is None:
                holder = f"p_{'__'.join(parent)}"
                parents[parent] = holder
                inner = f"_dig({top(parent[0])}, {parent[1:]!r})" if len(parent) > 1 else top(parent[0])
                lines.append(f"{holder} = {inner}")
            leaf = path[-1]
            access = {
                "struct": f"{holder}.{leaf}",
                "fast": f"{holder}[{leaf!r}]",
                "safe": f"_dig({holder}, ({leaf!r},))",
            }
            lines.append(f"{local} = None if {holder} is None else {access[mode]}")
    return lines


def _rule_code(em: _Emitter, rule: RuleInfo) -> list[str]:
    if rule.when is None:
        return []
    if static_bool(rule.when, em.kind, em.unit.checked.lets) is False:
        return [f"# rule {rule.name}: never fires for {em.kind}"]
    cond = em.truth(rule.when)
    explanation = _explanation(em, rule)
    message = _message(em, rule)
    lines = [f"# rule {rule.name}", f"if {cond}:"]
    hit = (
        f"_Hit({rule.name!r}, {rule.severity!r}, {rule.score!r}, {rule.tags!r}, {explanation}, "
        f"{rule.verdict!r}, {rule.rule_id!r}, {message})"
    )
    live: list[str] = []
    live.append("if hits is None:")
    live.append("    hits = []")
    live.append(f"hits.append({hit})")
    if rule.score:
        live.append(f"score += {rule.score!r}")
    if rule.verdict == "allow":
        live.append("allow = True")
    elif rule.verdict == "review":
        live.append("forced = max(forced, 1)")
    elif rule.verdict == "block":
        live.append("forced = 2")
    effects = _effects(em, rule)
    if effects:
        live.append("if effects is None:")
        live.append("    effects = []")
        live.extend(effects)
    shadow = ["if shadow is None:", "    shadow = []", f"shadow.append({hit})"]
    if rule.shadow and rule.shadow_until is None:
        lines.extend("    " + line for line in shadow)
    elif rule.shadow:
        until = dt.datetime.combine(rule.shadow_until, dt.time(), dt.UTC).timestamp()  # type: ignore[arg-type]
        em.uses_time = True
        lines.append(f"    if ts < {until!r}:")
        lines.extend("        " + line for line in shadow)
        lines.append("    else:")
        lines.extend("        " + line for line in live)
    else:
        lines.extend("    " + line for line in live)
    return lines


def _effects(em: _Emitter, rule: RuleInfo) -> list[str]:
    lines: list[str] = []
    if rule.case is not None:
        primary = em.unit.checked.env.kinds[em.kind].primary_entity
        key = em.value(rule.case.key) if rule.case.key is not None else em.field((primary,))
        priority = rule.case.priority or "normal"
        lines.append(
            f"effects.append(_OpenCase({rule.case.queue!r}, _case_key({key}, ev_id), {priority!r}, "
            f"{rule.name!r}, {rule.severity!r}))"
        )
    for integration in rule.notify:
        lines.append(f"effects.append(_Notify({integration!r}, {rule.name!r}))")
    return lines


def _explanation(em: _Emitter, rule: RuleInfo) -> str:
    assert rule.when is not None
    return _explain(em, rule.when, "T", frozenset())


def _explain(em: _Emitter, expr: ast.Expr, mode: str, seen: frozenset[str]) -> str:
    """Code for the tuple of explanation lines of the comparisons that were evaluated.

    ``mode`` is how the expression was evaluated: ``T`` (is it true), ``F`` (is it false)
    or ``V`` (its value, for lets). The explanation follows the same short-circuits, so
    it never evaluates an operand the condition skipped.
    """
    checked = em.unit.checked
    if static_bool(expr, em.kind, checked.lets) is not None:
        return "()"
    if isinstance(expr, ast.Binary) and expr.op in ("and", "or"):
        left = _explain(em, expr.left, mode, seen)
        right = _explain(em, expr.right, mode, seen)
        stop = {
            ("and", "T"): None,
            ("or", "F"): None,
            ("and", "F"): em.falsity(expr.left),
            ("or", "T"): em.truth(expr.left),
            ("and", "V"): f"({em.value(expr.left)} is False)",
            ("or", "V"): f"({em.value(expr.left)} is True)",
        }[(expr.op, mode)]
        if stop is None:
            return f"({left} + {right})"
        return f"({left} if {stop} else {left} + {right})"
    if isinstance(expr, ast.Unary) and expr.op == "not":
        return _explain(em, expr.operand, {"T": "F", "F": "T", "V": "V"}[mode], seen)
    if isinstance(expr, ast.Name) and expr.name in checked.lets:
        if expr.name in seen:
            return "()"
        return _explain(em, checked.lets[expr.name].expr, "V", seen | {expr.name})
    if isinstance(
        expr, ast.Compare | ast.Matches | ast.Between | ast.IsNull | ast.Field | ast.Call | ast.Name
    ):
        return f"({_explain_comparison(em, expr)},)"
    return "()"


Part = tuple[bool, str]  # (is code, text or Python code)


def _describe(em: _Emitter, expr: ast.Expr) -> list[Part]:
    """The text ``source = value`` of an operand as parts (literals just as written)."""
    if isinstance(expr, ast.Literal | ast.Duration | ast.ListExpr):
        return [(False, expr_source(expr))]
    if isinstance(expr, ast.Name) and expr.name in em.unit.checked.lists:
        return [(False, expr.name)]
    source = expr_source(expr)
    if isinstance(expr, ast.Name) and expr.name in em.unit.checked.lets:
        source = expr_source(em.unit.checked.lets[expr.name].expr)
    shown = "_show_duration" if em.type_of(expr) == DURATION else "_show"
    return [(False, source + " = "), (True, f"{shown}({em.value(expr)})")]


def _joined(parts: list[Part]) -> str:
    """Python code concatenating the parts, adjacent texts merged into one literal."""
    merged: list[Part] = []
    for is_code, text in parts:
        if merged and not is_code and not merged[-1][0]:
            merged[-1] = (False, merged[-1][1] + text)
        else:
            merged.append((is_code, text))
    return " + ".join(text if is_code else repr(text) for is_code, text in merged) or "''"


def _explain_comparison(em: _Emitter, node: ast.Expr) -> str:
    parts: list[Part]
    if isinstance(node, ast.Compare):
        parts = [*_describe(em, node.left), (False, f" {node.op} "), *_describe(em, node.right)]
    elif isinstance(node, ast.Matches):
        parts = [*_describe(em, node.subject), (False, " matches " + expr_source(ast.Literal(node.pattern)))]
    elif isinstance(node, ast.Between):
        parts = [
            *_describe(em, node.subject),
            (False, " between "),
            *_describe(em, node.low),
            (False, " and "),
            *_describe(em, node.high),
        ]
    elif isinstance(node, ast.IsNull):
        parts = [*_describe(em, node.subject), (False, " is not null" if node.negated else " is null")]
    else:
        parts = _describe(em, node)
    return _joined(parts)


def _message(em: _Emitter, rule: RuleInfo) -> str:
    if not rule.explain_parts:
        return "None"
    parts = [repr(p) if isinstance(p, str) else f"_text({em.value(p)})" for p in rule.explain_parts]
    return " + ".join(parts)


def _quiet_outcome(em: _Emitter, general: str) -> str:
    """The outcome when no rule hit: a constant when the outcome lines only read the score."""
    for line in em.unit.checked.outcome:
        if line.when is not None and not _score_only(line.when):
            return general
    for line in em.unit.checked.outcome:
        if line.when is None or eval(em.truth(line.when), {"score": 0}):
            return f"outcome = {line.outcome!r}"
    return "outcome = 'approve'"


def _score_only(expr: ast.Expr) -> bool:
    if isinstance(expr, ast.ScoreRef | ast.Literal):
        return True
    if isinstance(expr, ast.Compare):
        return _score_only(expr.left) and _score_only(expr.right)
    if isinstance(expr, ast.Binary):
        return _score_only(expr.left) and _score_only(expr.right)
    if isinstance(expr, ast.Unary):
        return _score_only(expr.operand)
    return False


def _outcome_code(em: _Emitter) -> str:
    """One statement that sets ``outcome`` from ``score``, ``forced`` and ``allow``."""
    checked = em.unit.checked
    chain = "'approve'"
    for line in reversed(checked.outcome):
        if line.when is None:
            chain = repr(line.outcome)
        else:
            chain = f"({line.outcome!r} if {em.truth(line.when)} else {chain})"
    return f"outcome = 'approve' if allow else _floor({chain}, forced)"
