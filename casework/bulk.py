"""Inserting many rows fast: PostgreSQL COPY, or executemany elsewhere.

The recording path writes thousands of rows per batch into several tables; COPY
moves them in one round trip per table instead of one statement per row or per
page. JSON columns are encoded here with the same msgspec encoder the engine's
JSON type uses, so a row reads back the same whichever path wrote it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, cast

import msgspec
import psycopg
import sqlalchemy as sa
from sqlalchemy.orm import Session

from casework.db import is_postgres

_encoder = msgspec.json.Encoder()

#: below this many rows COPY's extra round trips cost more than they save
COPY_FROM = 20


def _json_columns(table: sa.Table) -> frozenset[str]:
    return frozenset(c.name for c in table.columns if isinstance(c.type, sa.JSON))


def insert_rows(session: Session, model: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``model``'s table in this transaction."""
    if not rows:
        return
    if len(rows) < COPY_FROM or not is_postgres(session):
        session.execute(sa.insert(model), list(rows))
        return
    table: sa.Table = model.__table__
    columns = list(rows[0])
    json_columns = _json_columns(table)
    json_at = [i for i, name in enumerate(columns) if name in json_columns]
    time_at = [i for i, name in enumerate(columns) if isinstance(table.c[name].type, sa.types.TypeDecorator)]
    quoted = ", ".join(f'"{name}"' for name in columns)
    raw = cast("psycopg.Connection[Any]", session.connection().connection.dbapi_connection)
    statement = f'COPY "{table.name}" ({quoted}) FROM STDIN'
    try:
        _copy(raw, statement, rows, columns, json_at, time_at, table.name)
    except psycopg.IntegrityError as exc:
        # the same exception type as the executemany path, so callers handle one
        raise sa.exc.IntegrityError(statement, None, exc) from exc


def _copy(
    raw: psycopg.Connection[Any],
    statement: str,
    rows: Sequence[Mapping[str, Any]],
    columns: list[str],
    json_at: list[int],
    time_at: list[int],
    table: str,
) -> None:
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            values = [row[name] for name in columns]
            for i in json_at:
                values[i] = _encoder.encode(values[i]).decode()
            for i in time_at:
                value = values[i]
                if isinstance(value, dt.datetime) and value.tzinfo is None:
                    raise ValueError(f"naive datetime {value!r} for {table}.{columns[i]}")
            copy.write_row(values)
