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


def num(value: Any) -> float:
    """A model feature: numbers as floats, booleans as 0/1, null (or anything else) as NaN."""
    if value is True:
        return 1.0
    if value is False:
        return 0.0
    if isinstance(value, int | float):
        return float(value)
    return math.nan


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


def neg(value: Any) -> Any:
    """Unary minus on an ``any``-typed value: null unless it is a number."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return -value
    return None


def time_arith(op: str, a: Any, b: Any) -> Any:
    """Timestamps are datetimes, durations seconds: t - t is a duration, t ± d a timestamp."""
    if a is None or b is None:
        return None
    if isinstance(a, dt.datetime) and isinstance(b, dt.datetime):
        return (a - b).total_seconds() if op == "-" else None
    if isinstance(a, dt.datetime):
        delta = dt.timedelta(seconds=float(b))
        return a + delta if op == "+" else a - delta
    if isinstance(b, dt.datetime) and op == "+":
        return b + dt.timedelta(seconds=float(a))
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
    """A nested value of an ``attributes`` map (or a mapping event); null when absent.

    Only mapping keys are followed, never Python attributes of the values.
    """
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
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
        # exactly the value compared, so an explanation never contradicts its comparison
        return repr(value) if math.isfinite(value) else ("null" if value != value else repr(value))
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
