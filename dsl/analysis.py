"""What the checker learns about a pack, handed to the compiler and the test runner."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from dsl import ast
from dsl.diagnostics import Source
from dsl.types import Environment, Type


@dataclass(frozen=True)
class RuleInfo:
    """A rule with its clauses resolved (defaults applied, duplicates rejected)."""

    node: ast.Rule
    index: int
    when: ast.Expr | None
    verdict: str | None = None
    score: int | float = 0
    severity: str = "medium"
    tags: tuple[str, ...] = ()
    case: ast.CaseClause | None = None
    notify: tuple[str, ...] = ()
    shadow: bool = False
    shadow_until: dt.date | None = None
    rule_id: str | None = None
    explain: ast.Explain | None = None
    #: the parsed ``{expr}`` parts of the explain template, in order
    explain_parts: tuple[str | ast.Expr, ...] = ()

    @property
    def name(self) -> str:
        return self.node.name


@dataclass(frozen=True)
class ModelInfo:
    node: ast.Model
    kind: str
    features: tuple[ast.Expr, ...]
    label: str

    @property
    def name(self) -> str:
        return self.node.name


@dataclass
class CheckedPack:
    """A pack that passed the checker, with everything the compiler needs."""

    pack: ast.Pack
    source: Source
    env: Environment
    kinds: tuple[str, ...]
    lets: dict[str, ast.Let]
    lists: dict[str, ast.ListDef]
    rules: list[RuleInfo]
    outcome: list[ast.OutcomeLine]
    risk: tuple[float, float, float] = (25, 50, 80)
    models: dict[str, ModelInfo] = field(default_factory=dict)
    tests: list[ast.Test] = field(default_factory=list)
    #: the type of every expression node, per event kind: (kind, id(node)) -> type
    types: dict[tuple[str, int], Type] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.pack.header.name

    @property
    def version(self) -> str:
        return self.pack.header.version

    def type_of(self, kind: str, node: ast.Expr) -> Type | None:
        return self.types.get((kind, id(node)))
