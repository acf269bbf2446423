"""Helpers the generated evaluators call: time, null-safe arithmetic, display of values."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from dsl.formatter import quote

UNSET: Any = type("Unset", (), {"__repr__": lambda self: "UNSET"})()
EMPTY_SET: frozenset[Any] = frozenset()
_RANK = {"approve": 0, "review": 1, "block": 2}
_BY_RANK = ("approve", "review", "block")


def epoch(value: Any) -> float:
    """Event time in seconds since the epoch, from a datetime, an RFC 3339 string or a number."""
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return to_datetime(value).timestamp()  # type: ignore[union-attr]
    raise TypeError(f"event timestamp must be an RFC 3339 time, not {type(value).__name__}")


def to_datetime(value: Any) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    parsed = dt.datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def floor(outcome: str, forced: int) -> str:
    """The outcome raised to at least the forced verdict (review = 1, block = 2)."""
    return outcome if _RANK[outcome] >= forced else _BY_RANK[forced]


def div(a: Any, b: Any) -> Any:
    if a is None or b is None or b == 0:
        return None
    try:
        return a / b
    except TypeError:
        return None


def mod(a: Any, b: Any) -> Any:
    if a is None or b is None or b == 0:
        return None
    try:
        return a % b
    except TypeError:
        return None


def arith(op: str, a: Any, b: Any) -> Any:
    """Arithmetic on ``any``-typed values (attributes): a type mismatch is null, not an error."""
    if a is None or b is None:
        return None
    try:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        return a * b
    except TypeError:
        return None


def order(op: str, a: Any, b: Any) -> bool:
    """An ordering test on ``any``-typed values; values that cannot be ordered do not match."""
    try:
        if op == "<":
            return bool(a < b)
        if op == "<=":
            return bool(a <= b)
        if op == ">":
            return bool(a > b)
        return bool(a >= b)
    except TypeError:
        return False


def contains(item: Any, collection: Any, positive: bool) -> bool:
    try:
        return (item in collection) is positive
    except TypeError:
        return False


def dig(value: Any, path: tuple[str, ...]) -> Any:
    """A nested value of an ``attributes`` map (or a mapping event); null when absent."""
    for key in path:
        if isinstance(value, dict):
            value = value.get(key)
        else:
            value = getattr(value, key, None)
        if value is None:
            return None
    return value


def case_key(value: Any, event_id: str) -> str:
    if value is None:
        return event_id
    if isinstance(value, tuple):
        return "|".join(show_plain(v) for v in value)
    return show_plain(value)


def show(value: Any) -> str:
    """A value as the rule language writes it, for explanations."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    cls = type(value)
    if cls is str:
        # most strings need no escaping: skip the character loop of quote()
        if '"' in value or "\\" in value or not value.isprintable():
            return quote(value)
        return '"' + str(value) + '"'
    if cls is float:
        text = repr(value)
        if "e" not in text and "n" not in text and len(text) - text.find(".") <= 5:
            return text  # at most 4 decimals: shown exactly as written
        if not math.isfinite(value) or not 1e-4 <= abs(value) < 1e15:
            return f"{value:.4g}"
        fixed = f"{value:.4f}".rstrip("0")
        return fixed + "0" if fixed.endswith(".") else fixed
    if cls is int:
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, tuple | list | frozenset | set):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return quote(str(value))


def show_plain(value: Any) -> str:
    """A value for prose (explain templates, case keys): strings without quotes."""
    return value if isinstance(value, str) else show(value)


def show_duration(value: Any) -> str:
    if value is None:
        return "null"
    seconds = float(value)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
