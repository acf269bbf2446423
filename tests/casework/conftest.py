"""Database fixtures for the casework suite: every test runs on SQLite and on PostgreSQL.

Each test gets a fresh, fully migrated database: on SQLite a copy of a template file
migrated once per session, on PostgreSQL ``CREATE DATABASE ... TEMPLATE`` from a
template database migrated once per session (cheap, and nothing leaks between tests).
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from casework import migrate
from casework.context import Context
from casework.db import create_engine, transaction
from casework.tenants import create_tenant

_counter = itertools.count()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    engine = create_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    # closing the last connection checkpoints the WAL into the file we copy
    engine.dispose()
    assert not path.with_name(path.name + "-wal").exists()
    return path


class PgServer:
    """Creates and drops per-test databases on the test server."""

    def __init__(self, url: str) -> None:
        self.url = sa.make_url(url)
        self.admin = sa.create_engine(self.url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        self.prefix = f"vigil_t{os.getpid()}"
        self.template = f"{self.prefix}_template"

    def create(self, name: str, template: str | None = None) -> str:
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            clause = f' TEMPLATE "{template}"' if template else ""
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"{clause}')
        return self.url.set(database=name).render_as_string(hide_password=False)

    def drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_server(postgres_url: str) -> Iterator[PgServer]:
    server = PgServer(postgres_url)
    engine = create_engine(server.create(server.template))
    migrate.upgrade(engine)
    engine.dispose()
    yield server
    server.drop(server.template)
    server.admin.dispose()


def _sqlite_engine(template: Path, tmp_path: Path) -> Engine:
    path = tmp_path / "vigil.sqlite3"
    shutil.copyfile(template, path)
    return create_engine(f"sqlite:///{path}")


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path) -> Iterator[Engine]:
    """A freshly migrated database of each kind."""
    if request.param == "sqlite":
        eng = _sqlite_engine(sqlite_template, tmp_path)
        yield eng
        eng.dispose()
        return
    server: PgServer = request.getfixturevalue("pg_server")
    name = f"{server.prefix}_{next(_counter)}"
    eng = create_engine(server.create(name, server.template))
    yield eng
    eng.dispose()
    server.drop(name)


@pytest.fixture
def pg_engine(pg_server: PgServer) -> Iterator[Engine]:
    """A freshly migrated PostgreSQL database, for the tests about concurrent writers."""
    name = f"{pg_server.prefix}_{next(_counter)}"
    eng = create_engine(pg_server.create(name, pg_server.template), pool_size=12)
    yield eng
    eng.dispose()
    pg_server.drop(name)


@pytest.fixture
def tenant(engine: Engine) -> str:
    """A tenant named ``acme`` in the test database."""
    with transaction(engine) as session:
        create_tenant(session, Context("acme"), "Acme Payments")
    return "acme"
