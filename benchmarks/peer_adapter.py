"""Vigil's engine as an adapter of the peer rule-engine benchmark (``../shared/bench/peers``).

The harness hands every adapter the same 20 engine-neutral rules (``rules.py``:
``Rule`` objects whose ``conds`` are ``(path, op, value | Field)``) and the same
event dicts. ``VigilAdapter.prepare`` writes those rules as ONE Vigil rulepack
(one ``rule`` per neutral rule, its conditions joined with ``and`` in a ``when``
clause, ``score 1``), compiles it with ``engine.pack.load_pack`` against an
environment that knows a custom event kind, ``peer_payment`` (the harness's event
schema as a msgspec Struct), and builds an ``Engine``. The timed ``evaluate``
calls ``Engine.evaluate_many(batch, kind="peer_payment")`` on the dicts exactly
as the harness gives them and counts the hits of each Decision.

Run it from a copy of the harness folder (the shared one is read-only)::

    cp -r ../shared/bench/peers /tmp/peers && cd /tmp/peers
    python3 -m venv .venv-peers
    .venv-peers/bin/pip install -r requirements.txt && .venv-peers/bin/pip install -e /work/main
    PYTHONPATH=/work/main/benchmarks .venv-peers/bin/python bench.py \\
        --only hand --only zen --only generated --adapter peer_adapter:VigilAdapter

``VigilStructAdapter`` is a second, optional row: ``load`` (untimed) converts the
dicts to ``PeerPayment`` Structs first, so it shows the engine's cost without the
dict path (it is labelled "(pre-converted)" as the harness asks).

``python benchmarks/peer_adapter.py`` (with the harness folder on ``PYTHONPATH``)
prints the generated rulepack and the Python the compiler made of it.
"""

from __future__ import annotations

import datetime as dt
import json
import typing
from collections.abc import Sequence
from typing import Annotated, Any, ClassVar

import msgspec
from adapters.base import Adapter, Unsupported  # the harness's own modules (run from its folder)
from rules import FIELD_TYPES, Cond, Field, Rule

from engine.catalog import environment
from engine.engine import Engine
from engine.events import KINDS, BaseEvent
from engine.pack import CompiledPack, load_pack

KIND = "peer_payment"
PACK_NAME = "peer_bench"

_CMP_OPS = frozenset({">", ">=", "<", "<=", "==", "!="})
_PY_TYPES: dict[str, type] = {"float": float, "int": int, "str": str, "bool": bool}


class PeerFeatures(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The precomputed model inputs nested under ``features`` in every harness event."""

    velocity_1h: int
    amount_zscore: float
    new_device: bool
    ml_score: float


class PeerPayment(BaseEvent, frozen=True, tag=KIND, kw_only=True):
    """One harness event (``gen_events.py``) as a Vigil event kind.

    ``id`` is read from the harness's ``transaction_id``; the ISO ``timestamp`` is
    optional because the 20 rules are stateless. Field types follow
    ``rules.FIELD_TYPES`` (``prepare`` checks that they still agree).
    """

    id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] = msgspec.field(name="transaction_id")
    timestamp: Annotated[dt.datetime, msgspec.Meta(tz=True)] | None = None
    timestamp_epoch: float | None = None
    amount: float
    currency: str
    user_id: str
    merchant_id: str
    merchant_category: str
    card_country: str
    ip_country: str
    device_id: str
    channel: str
    card_present: bool
    distance_from_home_km: float
    foreign_transaction: bool
    account_age_days: int
    features: PeerFeatures

    primary_entity: ClassVar[str] = "user_id"


def _field_type(path: str) -> Any:
    """The annotation of a dotted path in ``PeerPayment`` (None when it does not exist)."""
    struct: Any = PeerPayment
    annotation: Any = None
    for part in path.split("."):
        if not (isinstance(struct, type) and issubclass(struct, msgspec.Struct)):
            return None
        annotation = typing.get_type_hints(struct).get(part)
        struct = annotation
    return annotation


def check_schema() -> None:
    """Raise Unsupported if ``PeerPayment`` no longer matches ``rules.FIELD_TYPES``."""
    for path, type_name in FIELD_TYPES.items():
        got = _field_type(path)
        if got is not _PY_TYPES[type_name]:
            raise Unsupported(f"PeerPayment.{path} is {got!r}, the harness says {type_name}")


def literal(value: Any) -> str:
    """A constant in the rule language's syntax."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # the language's string escapes are JSON's
    raise Unsupported(f"no Vigil literal for {value!r}")


def condition(cond: Cond) -> str:
    """One neutral condition as a Vigil boolean expression."""
    subject = "event." + cond.path
    op, value = cond.op, cond.value
    if op in _CMP_OPS:
        other = "event." + value.path if isinstance(value, Field) else literal(value)
        return f"{subject} {op} {other}"
    if op in ("in", "not in"):
        return f"{subject} {op} [{', '.join(literal(v) for v in value)}]"
    if op == "is true":
        return subject
    if op == "is false":
        return f"not {subject}"
    raise Unsupported(f"operator {op!r}")


def rulepack_source(rules: Sequence[Rule]) -> str:
    """The neutral rules as one Vigil rulepack on ``peer_payment``: one rule each, ``score 1``."""
    lines = [
        f'pack {PACK_NAME} 1.0.0 "The peer harness\'s {len(rules)} stateless fraud rules"',
        f"on {KIND}",
        "",
    ]
    for rule in rules:
        lines.append(f"rule {rule.name} {literal(rule.description)}")
        lines.append("  when " + " and ".join(condition(c) for c in rule.conds))
        lines.append("  score 1")
        lines.append("")
    lines += ["outcome", "  review when score >= 1", "  approve", ""]
    return "\n".join(lines)


def compile_rules(rules: Sequence[Rule]) -> tuple[str, CompiledPack]:
    """Generate the rulepack for the neutral rules and compile it with the ``peer_payment`` kind."""
    check_schema()
    text = rulepack_source(rules)
    env = environment(kinds={**KINDS, KIND: PeerPayment})
    return text, load_pack(text, f"<{PACK_NAME}.rules>", env=env)


class VigilAdapter(Adapter):
    """The harness's rules as one compiled Vigil rulepack; events are the harness's dicts."""

    name = "vigil, compiled rulepack, Engine.evaluate_many over the dicts"
    package = None  # the harness reports PyPI versions; Vigil is installed from the repo
    method = (
        "neutral rules -> one Vigil rulepack (20 rules, score 1) -> load_pack -> "
        "Engine.evaluate_many(dicts, kind='peer_payment'); count Decision.hits"
    )

    def prepare(self, rules: Sequence[Rule]) -> None:
        self.source, self.pack = compile_rules(rules)
        self.engine = Engine([self.pack])
        self.engine.register_kind(PeerPayment, KIND)

    def evaluate(self, batch: Any) -> list[int]:
        return [len(d.hits) for d in self.engine.evaluate_many(batch, kind=KIND)]


class VigilStructAdapter(VigilAdapter):
    """Same pack; ``load`` (untimed) validates the dicts into ``PeerPayment`` Structs."""

    name = "vigil, compiled rulepack, Engine.evaluate_many over Structs (pre-converted)"
    method = (
        "as the vigil row, but load() runs msgspec.convert(dicts, list[PeerPayment]) untimed; "
        "evaluate_many reads Struct attributes"
    )

    def load(self, events: list[dict[str, Any]]) -> Any:
        return msgspec.convert(events, list[PeerPayment])

    def evaluate(self, batch: Any) -> list[int]:
        return [len(d.hits) for d in self.engine.evaluate_many(batch)]


if __name__ == "__main__":
    from rules import RULES

    source, pack = compile_rules(RULES)
    print(source)
    print(pack.generated.code)
