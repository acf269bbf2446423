"""Column types that behave the same on PostgreSQL and SQLite."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

#: 64-bit keys on PostgreSQL; on SQLite only ``INTEGER PRIMARY KEY`` autoincrements
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class UTCDateTime(sa.TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on both databases.

    SQLite has no time zones, so values are stored there as naive UTC; PostgreSQL
    gets ``timestamptz``. Naive values are refused so local time never slips in.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: give times in UTC with tzinfo")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


#: JSON text (``json`` on PostgreSQL, not ``jsonb``): the stored text is kept as written,
#: so numbers read back exactly as hashed into the audit chain
JSONDoc = sa.JSON()
