"""The rule language's syntax tree: frozen msgspec Structs that carry source spans.

Spans never take part in equality, so two trees that differ only in layout compare
equal: that is what makes ``parse(format(pack)) == parse(pack)`` a meaningful test.
"""

from __future__ import annotations

from typing import Any

import msgspec


class Span(msgspec.Struct, frozen=True, eq=False):
    """A region of source text: 1-based lines and columns, end exclusive."""

    line: int = 0
    column: int = 0
    end_line: int = 0
    end_column: int = 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Span)

    def __hash__(self) -> int:
        return 0


NO_SPAN = Span()


class Spans(msgspec.Struct, frozen=True, eq=False):
    """Spans of the parts of a node (keys of an object); like Span, never part of equality."""

    items: tuple[Span, ...] = ()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Spans)

    def __hash__(self) -> int:
        return 0


class Node(msgspec.Struct, frozen=True, kw_only=True):
    span: Span = NO_SPAN


# ---------------------------------------------------------------- expressions


class Literal(Node, frozen=True):
    """``42``, ``25.0``, ``"ecom"``, ``true``, ``null``."""

    value: int | float | str | bool | None


class Duration(Node, frozen=True):
    """``30s``, ``1h``: kept as written for formatting and explanations."""

    seconds: float
    text: str


class Field(Node, frozen=True):
    """``event.geo.lat``: a path into the event; each segment has its own span."""

    path: tuple[str, ...]
    segment_spans: tuple[Span, ...] = ()


class Name(Node, frozen=True):
    """A reference to a ``let`` or a ``list``."""

    name: str


class ScoreRef(Node, frozen=True):
    """``score`` inside an ``outcome`` condition: the event's total score."""


class ListExpr(Node, frozen=True):
    items: tuple[Expr, ...]


class Arg(Node, frozen=True):
    value: Expr
    name: str | None = None


class Call(Node, frozen=True):
    func: str
    args: tuple[Arg, ...]
    func_span: Span = NO_SPAN


class Unary(Node, frozen=True):
    """``not x`` or ``-x``."""

    op: str
    operand: Expr


class Binary(Node, frozen=True):
    """``and``, ``or`` and arithmetic."""

    op: str
    left: Expr
    right: Expr


class Compare(Node, frozen=True):
    """``== != < <= > >=``, ``in`` and ``not in``."""

    op: str
    left: Expr
    right: Expr
    op_span: Span = NO_SPAN


class Matches(Node, frozen=True):
    subject: Expr
    pattern: str
    pattern_span: Span = NO_SPAN


class Between(Node, frozen=True):
    subject: Expr
    low: Expr
    high: Expr


class IsNull(Node, frozen=True):
    subject: Expr
    negated: bool = False


Expr = (
    Literal
    | Duration
    | Field
    | Name
    | ScoreRef
    | ListExpr
    | Call
    | Unary
    | Binary
    | Compare
    | Matches
    | Between
    | IsNull
)

# ---------------------------------------------------------------- rule clauses


class When(Node, frozen=True):
    expr: Expr


class Then(Node, frozen=True):
    verdict: str


class ScoreClause(Node, frozen=True):
    value: int | float


class SeverityClause(Node, frozen=True):
    level: str


class Tags(Node, frozen=True):
    names: tuple[str, ...]


class CaseClause(Node, frozen=True):
    queue: str
    key: Expr | None = None
    priority: str | None = None


class NotifyClause(Node, frozen=True):
    integration: str


class ModeShadow(Node, frozen=True):
    until: str | None = None


class RuleId(Node, frozen=True):
    value: str


class Explain(Node, frozen=True):
    template: str
    template_span: Span = NO_SPAN


RuleClause = (
    When
    | Then
    | ScoreClause
    | SeverityClause
    | Tags
    | CaseClause
    | NotifyClause
    | ModeShadow
    | RuleId
    | Explain
)

# ---------------------------------------------------------------- models


class ModelKind(Node, frozen=True):
    kind: str


class ModelFeatures(Node, frozen=True):
    exprs: tuple[Expr, ...]


class ModelLabel(Node, frozen=True):
    source: str


ModelClause = ModelKind | ModelFeatures | ModelLabel

# ---------------------------------------------------------------- tests


class ObjectValue(Node, frozen=True):
    """``{ card_id: "c1", geo: { lat: 1.0, lon: 2.0 } }`` in a test."""

    pairs: tuple[tuple[str, Any], ...]
    key_spans: Spans = Spans()

    def key_span(self, index: int) -> Span:
        items = self.key_spans.items
        return items[index] if index < len(items) else self.span


class GivenEvent(Node, frozen=True):
    kind: str
    count: int | None = None
    after: Duration | None = None
    every: Duration | None = None
    fields: ObjectValue | None = None
    kind_span: Span = NO_SPAN


class GivenModel(Node, frozen=True):
    model: str
    score: int | float


class GivenRef(Node, frozen=True):
    table: str
    record: ObjectValue


class TestList(Node, frozen=True):
    name: str
    items: ListExpr


class ExpectOutcome(Node, frozen=True):
    outcome: str


class ExpectHits(Node, frozen=True):
    rules: tuple[str, ...]
    rule_spans: tuple[Span, ...] = ()


class ExpectNoHits(Node, frozen=True):
    pass


class ExpectScore(Node, frozen=True):
    op: str
    value: int | float


TestClause = (
    GivenEvent | GivenModel | GivenRef | TestList | ExpectOutcome | ExpectHits | ExpectNoHits | ExpectScore
)

# ---------------------------------------------------------------- top level


class PackHeader(Node, frozen=True):
    name: str
    version: str
    title: str | None = None


class On(Node, frozen=True):
    kinds: tuple[str, ...]
    kind_spans: tuple[Span, ...] = ()


class ListDef(Node, frozen=True):
    name: str
    items: ListExpr | None = None
    managed: str | None = None
    name_span: Span = NO_SPAN


class Let(Node, frozen=True):
    name: str
    expr: Expr
    name_span: Span = NO_SPAN


class Rule(Node, frozen=True):
    name: str
    description: str | None = None
    clauses: tuple[RuleClause, ...] = ()
    name_span: Span = NO_SPAN


class Model(Node, frozen=True):
    name: str
    clauses: tuple[ModelClause, ...] = ()
    name_span: Span = NO_SPAN


class OutcomeLine(Node, frozen=True):
    outcome: str
    when: Expr | None = None


class OutcomeBlock(Node, frozen=True):
    lines: tuple[OutcomeLine, ...]


class RiskLevels(Node, frozen=True):
    medium: int | float
    high: int | float
    critical: int | float


class Test(Node, frozen=True):
    name: str
    clauses: tuple[TestClause, ...] = ()


Item = On | ListDef | Let | Rule | Model | OutcomeBlock | RiskLevels | Test


class Pack(Node, frozen=True):
    header: PackHeader
    items: tuple[Item, ...] = ()

    def of_type(self, cls: type[Any]) -> list[Any]:
        """The top-level items of one statement type, in source order."""
        return [item for item in self.items if isinstance(item, cls)]
