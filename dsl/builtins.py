"""Pure built-in functions of the rule language: signatures and implementations.

Every implementation returns ``None`` (null) when an argument is null or the result
is undefined (``log(0)``), so that null flows through expressions as a value.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

from dsl.types import ANY, NUMBER, STRING, TIMESTAMP, FunctionSig, Param


def _null_on_error(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Arguments of ``any`` type may hold the wrong kind of value: that gives null, not an error."""

    def safe(*args: Any) -> Any:
        try:
            return fn(*args)
        except (TypeError, AttributeError, ValueError, OverflowError):
            return None

    safe.__name__ = fn.__name__
    safe.__doc__ = fn.__doc__
    return safe


def _abs(x: float | None) -> float | None:
    return None if x is None else abs(x)


def _min(*xs: Any) -> Any:
    return None if any(x is None for x in xs) else min(xs)


def _max(*xs: Any) -> Any:
    return None if any(x is None for x in xs) else max(xs)


def _len(x: Any) -> int | None:
    try:
        return None if x is None else len(x)
    except TypeError:
        return None


def _lower(x: str | None) -> str | None:
    return None if x is None else x.lower()


def _upper(x: str | None) -> str | None:
    return None if x is None else x.upper()


def _hour(t: dt.datetime | None) -> int | None:
    return None if t is None else t.astimezone(dt.UTC).hour


def _weekday(t: dt.datetime | None) -> int | None:
    return None if t is None else t.astimezone(dt.UTC).weekday()


_EARTH_RADIUS_KM = 6371.0088


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km between two WGS 84 points."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def _distance_km(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> float | None:
    if lat1 is None or lon1 is None or lat2 is None or lon2 is None:
        return None
    return haversine_km(lat1, lon1, lat2, lon2)


def _log(x: float | None) -> float | None:
    return None if x is None or x <= 0 else math.log(x)


_N = Param("x", NUMBER)
_abs, _min, _max, _len, _lower, _upper, _hour, _weekday, _distance_km, _log = (
    _null_on_error(f) for f in (_abs, _min, _max, _len, _lower, _upper, _hour, _weekday, _distance_km, _log)
)

BUILTINS: dict[str, tuple[FunctionSig, Callable[..., Any]]] = {
    "abs": (FunctionSig("abs", (_N,), NUMBER, doc="absolute value"), _abs),
    "min": (FunctionSig("min", (_N, _N), NUMBER, variadic=True, doc="smallest argument"), _min),
    "max": (FunctionSig("max", (_N, _N), NUMBER, variadic=True, doc="largest argument"), _max),
    "len": (FunctionSig("len", (Param("x", ANY),), NUMBER, doc="length of a string or list"), _len),
    "lower": (FunctionSig("lower", (Param("s", STRING),), STRING, doc="lower case"), _lower),
    "upper": (FunctionSig("upper", (Param("s", STRING),), STRING, doc="upper case"), _upper),
    "hour": (FunctionSig("hour", (Param("t", TIMESTAMP),), NUMBER, doc="hour of day, UTC, 0-23"), _hour),
    "weekday": (
        FunctionSig("weekday", (Param("t", TIMESTAMP),), NUMBER, doc="day of week, UTC, Monday = 0"),
        _weekday,
    ),
    "distance_km": (
        FunctionSig(
            "distance_km",
            (Param("lat1", NUMBER), Param("lon1", NUMBER), Param("lat2", NUMBER), Param("lon2", NUMBER)),
            NUMBER,
            doc="great-circle distance between two points",
        ),
        _distance_km,
    ),
    "log": (FunctionSig("log", (_N,), NUMBER, doc="natural logarithm; null for x <= 0"), _log),
}
