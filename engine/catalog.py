"""The environment packs are checked against: event kinds, built-ins, detectors and models.

Event kinds are described from their msgspec Structs, so the schema the rules are
type-checked against is the very schema events are decoded with.
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from typing import Any

import msgspec

from dsl.builtins import BUILTINS
from dsl.types import (
    ANY,
    BOOL,
    NUMBER,
    STRING,
    TIMESTAMP,
    Environment,
    FunctionSig,
    KindSchema,
    Param,
    Type,
    list_of,
    record,
)
from engine.detectors import DetectorRegistry, default_registry
from engine.events import KINDS, BaseEvent

MODEL_FUNCTIONS = {
    "model": FunctionSig(
        "model", (Param("name", STRING, const=True),), NUMBER, doc="fraud probability, 0..1"
    ),
    "anomaly": FunctionSig(
        "anomaly", (Param("name", STRING, const=True),), NUMBER, doc="anomaly score, 0..1"
    ),
}

#: reference data tables that tests may fill with ``given ref``
REF_TABLES = frozenset({"vehicles", "schedules"})


def type_of_annotation(annotation: Any) -> Type:
    """The rule-language type of a Struct field annotation."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return type_of_annotation(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return type_of_annotation(args[0]) if len(args) == 1 else ANY
    if origin in (list, tuple):
        elems = typing.get_args(annotation)
        return list_of(type_of_annotation(elems[0]) if elems else ANY)
    if origin is dict or annotation is dict:
        return ANY
    if annotation is bool:
        return BOOL
    if annotation in (int, float):
        return NUMBER
    if annotation is str:
        return STRING
    if annotation is dt.datetime:
        return TIMESTAMP
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        hints = typing.get_type_hints(annotation, include_extras=True)
        return record({f: type_of_annotation(hints[f]) for f in annotation.__struct_fields__})
    return ANY


def kind_schema(name: str, struct: type[BaseEvent]) -> KindSchema:
    hints = typing.get_type_hints(struct, include_extras=True)
    fields = {f: type_of_annotation(hints[f]) for f in struct.__struct_fields__}
    fields["kind"] = STRING
    renamed = tuple(
        (f.name, f.encode_name) for f in msgspec.structs.fields(struct) if f.name != f.encode_name
    )
    return KindSchema(name, record(fields, name), struct.primary_entity, renamed)


def environment(
    detectors: DetectorRegistry | None = None, kinds: dict[str, type[BaseEvent]] | None = None
) -> Environment:
    """The default environment: built-in kinds, built-in functions, detectors and model calls."""
    registry = detectors or default_registry()
    functions = {name: sig for name, (sig, _) in BUILTINS.items()}
    functions.update(MODEL_FUNCTIONS)
    for detector in registry:
        functions[detector.sig.name] = detector.sig
    schemas = {name: kind_schema(name, struct) for name, struct in (kinds or KINDS).items()}
    return Environment(schemas, functions, REF_TABLES)
