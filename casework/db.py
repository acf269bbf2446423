"""Engines and transactions: the one way code outside ``casework`` opens the store.

The core is synchronous SQLAlchemy: the recording path is CPU- and round-trip-bound
in one transaction, and async callers run it in a worker thread.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from casework.settings import database_url

_READ_ONLY = "vigil_read_only"

_json_encoder = msgspec.json.Encoder()
_json_decoder = msgspec.json.Decoder()


def _json_serializer(value: Any) -> str:
    # msgspec encodes Structs (hits, effects) directly: no to-dict step on the hot path
    return _json_encoder.encode(value).decode()


def _json_deserializer(text: str | bytes) -> Any:
    return _json_decoder.decode(text)


def create_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url`` (default: ``VIGIL_DATABASE_URL`` or the embedded SQLite file)."""
    url = database_url(url)
    sa_url = sa.make_url(url)
    options: dict[str, Any] = {
        "json_serializer": _json_serializer,
        "json_deserializer": _json_deserializer,
    }
    if sa_url.get_backend_name() == "sqlite":
        if sa_url.database and sa_url.database != ":memory:":
            Path(sa_url.database).parent.mkdir(parents=True, exist_ok=True)
        options["connect_args"] = {"check_same_thread": False, "timeout": 30}
        options.update(kwargs)
        engine = sa.create_engine(sa_url, **options)
        _configure_sqlite(engine)
        return engine
    options.update({"pool_size": 10, "max_overflow": 10, "pool_pre_ping": True})
    options.update(kwargs)
    return sa.create_engine(sa_url, **options)


def _configure_sqlite(engine: Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own is deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA busy_timeout = 30000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        # IMMEDIATE takes the write lock up front: a deferred transaction that reads
        # and then writes can fail with "database is locked" instead of waiting.
        # Read-only work (``read_transaction``) stays deferred so it never queues behind writers.
        if connection.get_execution_options().get(_READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


@contextlib.contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session inside one transaction: committed on success, rolled back on any error."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session


@contextlib.contextmanager
def read_transaction(engine: Engine) -> Iterator[Session]:
    """A session for reads only (queue pages, case views, verify, export reads).

    On SQLite it does not take the write lock, so readers run beside a writer (WAL);
    on PostgreSQL it is an ordinary transaction. Writing through it on SQLite may fail
    with "database is locked": use ``transaction`` for anything that writes.
    """
    with (
        Session(engine.execution_options(**{_READ_ONLY: True}), expire_on_commit=False) as session,
        session.begin(),
    ):
        yield session


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"
