"""Small SQL helpers that hide the PostgreSQL/SQLite differences the services care about."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def upsert_insert(session: Session, table: Any) -> Any:
    """``INSERT`` with ``on_conflict_do_nothing`` / ``on_conflict_do_update`` for this session's database."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
