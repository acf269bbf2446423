"""Reference data: the tenant's vehicles and working schedules, validated and loaded into an Engine.

Two tables, each a set of records with a unique ``id``:

``vehicles`` — read by ``over_tank_capacity()``::

    {"id": "v7", "tank_liters": 60}

``tank_liters`` is a number greater than 0. Other fields (plate, fuel type, ...)
are kept as they are.

``schedules`` — read by ``off_hours(schedule: "NAME")``::

    {"id": "default", "days": [0, 1, 2, 3, 4], "start": "06:00", "end": "20:00", "tz": "UTC"}

``days`` are the weekdays a shift starts on (Monday = 0 ... Sunday = 6; names such
as ``"mon"`` are accepted too, and in CSV a cell like ``0 1 2 3 4`` or
``mon,tue,wed``); ``start`` and ``end`` are local ``HH:MM`` times in the IANA
time zone ``tz`` (default ``UTC``), ``end`` may be ``24:00``. Working time is
``start <= local time < end`` on those days; when ``end`` is before ``start``
the shift runs overnight and ends on the next day. A tenant without a schedule
named ``default`` works Monday to Friday, 06:00 to 20:00 UTC (``DEFAULT_SCHEDULE``).

Files are JSON (an array of records, or an object holding the array under the
table's name), JSON Lines (``.jsonl``/``.ndjson``) or CSV with a header row. Every
problem is reported with the file and the row (CSV and JSON Lines: the line;
JSON: the record's position), e.g. ``vehicles.csv:3: tank_liters: Expected `float`
> 0.0, got `-5.0```.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import json
import re
import zoneinfo
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

if TYPE_CHECKING:
    from engine.engine import Engine

__all__ = [
    "DEFAULT_SCHEDULE",
    "TABLES",
    "RefDataError",
    "Schedule",
    "Vehicle",
    "load_file",
    "load_records",
    "read_file",
    "schedule_of",
    "validate_record",
]

_TIME = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
_END_TIME = r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"
_DAY_NAMES = {name: i for i, name in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))}
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


@functools.lru_cache(maxsize=256)
def zone(name: str) -> dt.tzinfo:
    """A time zone by IANA name (``UTC`` without a lookup)."""
    if name.upper() == "UTC":
        return dt.UTC
    if not name or name.startswith(("/", ".")) or ".." in name:
        raise ValueError(name)
    return zoneinfo.ZoneInfo(name)


class Vehicle(msgspec.Struct, frozen=True):
    """A vehicle of the tenant's fleet."""

    id: Id
    tank_liters: Annotated[float, msgspec.Meta(gt=0)]


class Schedule(msgspec.Struct, frozen=True):
    """A named working schedule; see the module docstring for its meaning."""

    id: Id
    days: Annotated[list[Annotated[int, msgspec.Meta(ge=0, le=6)]], msgspec.Meta(min_length=1)]
    start: Annotated[str, msgspec.Meta(pattern=_TIME)]
    end: Annotated[str, msgspec.Meta(pattern=_END_TIME)]
    tz: str = "UTC"

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ValueError("start and end must differ")
        try:
            zone(self.tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.tz!r}") from None

    @property
    def start_seconds(self) -> int:
        return _seconds(self.start)

    @property
    def end_seconds(self) -> int:
        return _seconds(self.end)


#: the working time of a tenant without a schedule named "default"
DEFAULT_SCHEDULE = Schedule("default", [0, 1, 2, 3, 4], "06:00", "20:00", "UTC")

TABLES: dict[str, type[msgspec.Struct]] = {"vehicles": Vehicle, "schedules": Schedule}


def _seconds(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 3600 + int(minutes) * 60


class RefDataError(ValueError):
    """A reference record or file that cannot be loaded; says where."""

    def __init__(self, message: str, path: str | None = None, row: int | str | None = None) -> None:
        self.path, self.row, self.message = path, row, message
        where = ""
        if path is not None:
            where = f"{path}:{row}: " if isinstance(row, int) else f"{path}: {row}: " if row else f"{path}: "
        super().__init__(where + message)


def _normalise_days(value: Any) -> Any:
    """Days as a list of 0-6: accepts ``"0 1 2"``, ``"mon,tue"`` and lists mixing names and numbers."""
    if isinstance(value, str):
        value = [p for p in re.split(r"[\s,;]+", value.strip()) if p]
    if not isinstance(value, list | tuple):
        return value
    out: list[Any] = []
    for item in value:
        if isinstance(item, str):
            text = item.strip().lower()
            if text[:3] in _DAY_NAMES and text.isalpha():
                out.append(_DAY_NAMES[text[:3]])
                continue
            if text.isdigit():
                out.append(int(text))
                continue
        out.append(item)
    return out


def _validation_message(exc: Exception) -> str:
    text = str(exc)
    match = re.match(r"^(.*) - at `\$\.([A-Za-z0-9_]+)(.*)`$", text)
    if match:
        return f"{match.group(2)}{match.group(3)}: {match.group(1)}"
    return text


def validate_record(table: str, record: Mapping[str, Any], strict: bool = True) -> dict[str, Any]:
    """A reference record checked against its table's format; raises RefDataError.

    Returns the record as stored: the validated fields (``tank_liters`` as a
    number, ``days`` as numbers) and any other fields unchanged. ``strict=False``
    converts text (CSV cells) to numbers.
    """
    cls = TABLES.get(table)
    if cls is None:
        raise RefDataError(f"unknown reference table '{table}' (known: {', '.join(sorted(TABLES))})")
    if not isinstance(record, Mapping):
        raise RefDataError(f"a {table} record must be an object, not {type(record).__name__}")
    data = {k: v for k, v in record.items() if v is not None and v != ""}
    if table == "schedules" and "days" in data:
        data["days"] = _normalise_days(data["days"])
    try:
        checked = msgspec.convert(data, cls, strict=strict)
    except msgspec.ValidationError as exc:
        raise RefDataError(_validation_message(exc)) from None
    return {**data, **msgspec.structs.asdict(checked)}


def schedule_of(record: Mapping[str, Any] | None) -> Schedule | None:
    """The schedule a stored record describes; None when it does not describe one."""
    if record is None:
        return None
    try:
        data = validate_record("schedules", record, strict=False)
    except RefDataError:
        return None
    return msgspec.convert(data, Schedule, strict=False)


def _rows(path: Path, table: str) -> Iterable[tuple[int | str, Any, bool]]:
    """``(row, record, strict)`` for every record in the file."""
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise RefDataError(f"cannot read: {exc.strerror}", str(path)) from None
    except UnicodeDecodeError:
        raise RefDataError("not UTF-8 text", str(path)) from None
    if suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        if not reader.fieldnames or "id" not in reader.fieldnames:
            raise RefDataError("the header row must name an 'id' column", str(path), 1)
        for record in reader:
            if None in record:
                raise RefDataError("more cells than header columns", str(path), reader.line_num)
            yield reader.line_num, record, False
        return
    if suffix in (".jsonl", ".ndjson"):
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    yield number, json.loads(line), True
                except json.JSONDecodeError as exc:
                    raise RefDataError(f"invalid JSON: {exc.msg}", str(path), number) from None
        return
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RefDataError(f"invalid JSON: {exc.msg}", str(path), exc.lineno) from None
    if isinstance(document, dict) and isinstance(document.get(table), list):
        document = document[table]
    if not isinstance(document, list):
        raise RefDataError(f"expected an array of {table} records", str(path))
    for number, record in enumerate(document, 1):
        yield f"record {number}", record, True


def read_file(table: str, path: str | Path) -> list[dict[str, Any]]:
    """Every record of a JSON, JSON Lines or CSV file, validated; raises RefDataError at the first problem."""
    p = Path(path)
    if table not in TABLES:
        validate_record(table, {})  # raises: unknown table
    records: list[dict[str, Any]] = []
    first_row: dict[str, int | str] = {}
    for row, record, strict in _rows(p, table):
        try:
            checked = validate_record(table, record, strict=strict)
        except RefDataError as exc:
            raise RefDataError(exc.message, str(p), row) from None
        rid = checked["id"]
        if rid in first_row:
            raise RefDataError(f"duplicate id '{rid}' (first at {first_row[rid]})", str(p), row)
        first_row[rid] = row
        records.append(checked)
    return records


def load_records(engine: Engine, table: str, records: Iterable[Mapping[str, Any]]) -> int:
    """Validate records and add (or replace) them in the engine; all or nothing. Returns the count."""
    checked = [validate_record(table, r) for r in records]
    for record in checked:
        engine.set_ref(table, record)
    return len(checked)


def load_file(engine: Engine, table: str, path: str | Path) -> list[dict[str, Any]]:
    """Read, validate and load a reference file into the engine; all or nothing."""
    records = read_file(table, path)
    for record in records:
        engine.set_ref(table, record)
    return records
