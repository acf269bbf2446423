"""Types of the rule language and the environment a pack is checked against.

The language knows nothing about concrete event Structs or detectors: the engine
describes its event kinds and callable functions with these classes and hands
them to the checker and compiler (``dsl`` never imports ``engine``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgspec


class Type(msgspec.Struct, frozen=True):
    """A value type: ``number``, ``string``, ``list[string]``, ``record``..."""

    name: str
    elem: Type | None = None
    fields: tuple[tuple[str, Type], ...] = ()

    def __str__(self) -> str:
        if self.name == "list" and self.elem is not None:
            return f"list of {self.elem}"
        return self.name

    def field(self, name: str) -> Type | None:
        for key, value in self.fields:
            if key == name:
                return value
        return None


NUMBER = Type("number")
STRING = Type("string")
BOOL = Type("boolean")
DURATION = Type("duration")
TIMESTAMP = Type("timestamp")
ANY = Type("any")
NULL = Type("null")
#: a detector key: a scalar or a list of scalars
KEY = Type("key")


def list_of(elem: Type) -> Type:
    return Type("list", elem=elem)


def record(fields: Mapping[str, Type], name: str = "record") -> Type:
    return Type(name, fields=tuple(fields.items()))


def compatible(a: Type, b: Type) -> bool:
    """Whether values of the two types may be compared for equality."""
    if a == b or ANY in (a, b) or NULL in (a, b):
        return True
    if a.name == "list" and b.name == "list" and a.elem is not None and b.elem is not None:
        return compatible(a.elem, b.elem)
    return False


def accepts(param: Type, arg: Type) -> bool:
    """Whether an argument of type ``arg`` may be passed for ``param``."""
    if param == KEY:
        return arg.name != "record"
    return compatible(param, arg)


_REQUIRED: Any = msgspec.UNSET


class Param(msgspec.Struct, frozen=True):
    """One parameter of a callable: its type, default, and whether it must be a constant."""

    name: str
    type: Type
    default: Any = _REQUIRED
    const: bool = False

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED


class FunctionSig(msgspec.Struct, frozen=True):
    """What the checker knows of a callable: parameters, result, and where it may be used."""

    name: str
    params: tuple[Param, ...]
    returns: Type
    #: event kinds the function can serve (None: every kind)
    kinds: frozenset[str] | None = None
    #: the function keeps state per entity (a detector) rather than being pure
    stateful: bool = False
    #: the last parameter repeats (min, max)
    variadic: bool = False
    #: event fields the function reads besides its arguments (sum_amount reads amount)
    inputs: tuple[tuple[str, ...], ...] = ()
    #: extra check on the arguments (regex validity, ranges); returns an error message
    validate: Callable[[dict[str, Any]], str | None] | None = None
    doc: str = ""


class KindSchema(msgspec.Struct, frozen=True):
    """An event kind as the rules see it: its fields and its primary entity."""

    name: str
    fields: Type
    primary_entity: str
    #: keys of mapping (JSON) events whose name differs from the field: (field, key) pairs
    wire_names: tuple[tuple[str, str], ...] = ()

    def wire_name(self, field: str) -> str:
        for name, key in self.wire_names:
            if name == field:
                return key
        return field


class Environment(msgspec.Struct, frozen=True):
    """Everything a pack may refer to beyond its own declarations."""

    kinds: dict[str, KindSchema]
    functions: dict[str, FunctionSig]
    #: reference data tables that tests may fill with ``given ref``
    ref_tables: frozenset[str] = frozenset()
