"""Loading a pack: parse, check and compile once, then link evaluators to state.

``load_pack`` does the expensive part (parsing, checking, code generation and
``compile()``) once; ``CompiledPack.link`` binds the code object to one engine's
detector state, lists and models, which is cheap.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType
from typing import Any

import re2

from dsl.analysis import CheckedPack
from dsl.builtins import BUILTINS
from dsl.checker import check
from dsl.compiler import CompiledSource, FamilySpec, compile_pack
from dsl.diagnostics import Diagnostic, Source, render_all
from dsl.formatter import expr_source
from dsl.parser import ParseFailure, parse
from dsl.types import Environment
from engine import runtime
from engine.catalog import environment
from engine.decision import Decision, Hit, Notify, OpenCase, PackRef, risk_level
from engine.detectors import DetectorRegistry, StateFamily, default_registry

Evaluator = Callable[[list[Any], Any, bool], list[Decision]]
Feeder = Callable[[list[Any], Any, bool], None]
#: every model's feature rows for a batch of one kind: model -> rows
Featurizer = Callable[[list[Any], Any, bool], dict[str, list[list[float]]]]
#: the entity keys a batch of one kind touches, per state group: group -> keys
KeyFinder = Callable[[list[Any], Any, bool], dict[str, set[Any]]]


@dataclass(frozen=True)
class ModelSpec:
    """A model a pack declares: what it predicts from, and a hash that pins the feature list."""

    name: str
    kind: str
    feature_names: tuple[str, ...]
    #: SHA-256 of the pack name, model name, kind and feature sources: a model trained on
    #: other features must not be scored with these
    feature_hash: str


@dataclass
class Linked:
    """A pack bound to one engine's state.

    Unpacks as ``evaluators, feeders`` (what ``link`` used to return).
    """

    #: the evaluator of every kind the pack decides on
    evaluators: dict[str, Evaluator]
    #: the feeder of every other kind whose events its detectors need
    feeders: dict[str, Feeder]
    #: for every kind the pack evaluates or feeds on: the entity keys a batch touches, per group
    keys: dict[str, KeyFinder]
    #: the state family of each group, by group name (``_g0``, ...)
    states: dict[str, StateFamily]
    #: per kind: every model's feature rows for a batch, advancing state as the evaluator does
    features: dict[str, Featurizer] = field(default_factory=dict)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter((self.evaluators, self.feeders))


class PackError(Exception):
    """A pack that does not parse or check; carries every diagnostic."""

    def __init__(self, diagnostics: list[Diagnostic], source: Source) -> None:
        self.diagnostics = diagnostics
        self.source = source
        super().__init__(render_all([d for d in diagnostics if d.severity == "error"], source))


@dataclass
class CompiledPack:
    """A checked pack with its generated code, ready to be linked into engines."""

    checked: CheckedPack
    generated: CompiledSource
    code: CodeType
    registry: DetectorRegistry
    diagnostics: list[Diagnostic]

    @property
    def name(self) -> str:
        return self.checked.name

    @property
    def version(self) -> str:
        return self.checked.version

    @property
    def kinds(self) -> tuple[str, ...]:
        return self.checked.kinds

    @property
    def models(self) -> dict[str, ModelSpec]:
        """The pack's model declarations, with the identity of their feature lists."""
        specs: dict[str, ModelSpec] = {}
        for name, info in self.checked.models.items():
            names = tuple(expr_source(f) for f in info.features)
            digest = hashlib.sha256("\n".join((self.name, name, info.kind, *names)).encode()).hexdigest()
            specs[name] = ModelSpec(name, info.kind, names, digest)
        return specs

    def link(self, families: Callable[[str, type[StateFamily], float], StateFamily]) -> Linked:
        """Bind the code to state; ``families(group, cls, retention)`` returns the group's state.

        Returns the evaluator of every kind the pack decides on, the feeder of every
        other kind whose events its detectors need, and for all those kinds the function
        giving the entity keys of each group a batch touches (see ``Linked``).
        """
        checked = self.checked
        ns: dict[str, Any] = {
            "_UNSET": runtime.UNSET,
            "_EMPTY_SET": runtime.EMPTY_SET,
            "_epoch": runtime.epoch,
            "_to_datetime": runtime.to_datetime,
            "_dig": runtime.dig,
            "_div": runtime.div,
            "_mod": runtime.mod,
            "_arith": runtime.arith,
            "_neg": runtime.neg,
            "_num": runtime.num,
            "_NAN": math.nan,
            "_time_arith": runtime.time_arith,
            "_order": runtime.order,
            "_contains": runtime.contains,
            "_floor": runtime.floor,
            "_case_key": runtime.case_key,
            "_show": runtime.show,
            "_show_duration": runtime.show_duration,
            "_text": runtime.show_plain,
            "_Decision": Decision,
            "_Hit": Hit,
            "_VERDICTS": (None, "review", "block"),
            "_OpenCase": OpenCase,
            "_Notify": Notify,
        }
        medium, high, critical = checked.risk
        pack_ref = PackRef(checked.name, checked.version)
        ns["_PACK"] = pack_ref
        ns["_RISK0"] = risk_level(0, medium, high, critical)
        for name, (_, impl) in BUILTINS.items():
            ns[f"_fn_{name}"] = impl
        for name, value in self.generated.constants.items():
            if isinstance(value, tuple) and value and value[0] == "regex":
                ns[name] = re2.compile(value[1])
            else:
                ns[name] = value
        states: dict[str, StateFamily] = {}
        for group in self.generated.groups:
            calls = [c for c in self.generated.detector_calls if _group_key(c, self) == group]
            detectors = [self.registry.get(c.func) for c in calls]
            family_cls = detectors[0].family  # type: ignore[union-attr]
            retention = max(d.retention(dict(c.consts)) for d, c in zip(detectors, calls, strict=True))  # type: ignore[union-attr]
            states[group] = families(f"{checked.name}:{group}", family_cls, retention)
            ns[f"_obs_{group}"] = states[group].observe
            ns[f"_feed_{group}"] = states[group].feed
        for index, call in enumerate(self.generated.detector_calls):
            detector = self.registry.get(call.func)
            assert detector is not None
            group = _group_key(call, self)
            ns[f"_q{index}"] = functools.partial(detector.query, states[group], dict(call.consts))
        # our own generated code: event data is only ever read into locals, never spliced in
        exec(self.code, ns)
        evaluators = {kind: ns[f"_eval_{kind}"] for kind in checked.kinds}
        feeders = {kind: ns[f"_feed_{kind}"] for kind in self.generated.feed_kinds}
        keys = {
            kind: ns[f"_keys_{kind}"]
            for kind in (*checked.kinds, *self.generated.feed_kinds)
            if f"_keys_{kind}" in ns
        }
        features = {kind: ns[f"_features_{kind}"] for kind in checked.kinds if f"_features_{kind}" in ns}
        return Linked(evaluators, feeders, keys, states, features)


def _group_key(call: Any, pack: CompiledPack) -> str:
    detector = pack.registry.get(call.func)
    assert detector is not None
    family = detector.family.__name__
    for group, (family_name, dynamic, _) in pack.generated.groups.items():
        if family_name == family and dynamic == call.dynamic:
            return group
    raise KeyError(call)


def load_pack(
    text: str,
    path: str = "<pack>",
    registry: DetectorRegistry | None = None,
    env: Environment | None = None,
) -> CompiledPack:
    """Parse, check and compile a pack; raise PackError with every diagnostic on failure."""
    registry = registry or default_registry()
    env = env or environment(registry)
    source = Source(path, text)
    try:
        tree = parse(text, path)
    except ParseFailure as exc:
        raise PackError(exc.diagnostics, source) from None
    checked, diagnostics = check(tree, env, source)
    if checked is None:
        raise PackError(diagnostics, source)

    def family_of(func: str) -> FamilySpec:
        detector = registry.get(func)
        assert detector is not None
        family = detector.family
        return FamilySpec(
            family.__name__, family.inputs, family.observes, dict(family.feeds), family.query_key
        )

    generated = compile_pack(checked, family_of)
    code = compile(generated.code, f"<vigil pack {checked.name} {checked.version}>", "exec")
    return CompiledPack(checked, generated, code, registry, diagnostics)


def load_pack_file(path: str | Path, registry: DetectorRegistry | None = None) -> CompiledPack:
    p = Path(path)
    return load_pack(p.read_text(encoding="utf-8"), str(path), registry)
