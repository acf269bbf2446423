"""Database fixtures for the casework suite: every test runs on SQLite and on PostgreSQL.

Each test gets a migrated, empty database: on SQLite a copy of a template file
migrated once per session; on PostgreSQL one database migrated once per session and
emptied before and after every test.
"""

from __future__ import annotations

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
from casework.models import Base
from casework.tenants import create_tenant


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
    """Creates and drops databases on the test server."""

    def __init__(self, url: str) -> None:
        self.url = sa.make_url(url)
        self.admin = sa.create_engine(self.url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        self.name = f"vigil_t{os.getpid()}"

    def create(self) -> str:
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
        return self.url.set(database=self.name).render_as_string(hide_password=False)

    def drop(self) -> None:
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self.admin.dispose()


@pytest.fixture(scope="session")
def pg_shared_engine(postgres_url: str) -> Iterator[Engine]:
    """One migrated PostgreSQL database for the session; tests leave it empty (see ``_wipe``)."""
    server = PgServer(postgres_url)
    engine = create_engine(server.create(), pool_size=12)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()
    server.drop()


def _wipe(engine: Engine) -> None:
    """Empty every table. Creating and dropping a database per test costs about a second on
    PostgreSQL (DROP DATABASE checkpoints); deleting a test's few rows costs milliseconds.
    ``session_replication_role = replica`` switches off the append-only triggers and the
    foreign-key triggers, so neither blocks nor orders the deletes.
    """
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        for table in Base.metadata.sorted_tables:
            conn.execute(table.delete())


def _sqlite_engine(template: Path, tmp_path: Path) -> Engine:
    path = tmp_path / "vigil.sqlite3"
    shutil.copyfile(template, path)
    return create_engine(f"sqlite:///{path}")


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database of each kind."""
    if request.param == "sqlite":
        eng = _sqlite_engine(sqlite_template, tmp_path)
        yield eng
        eng.dispose()
        return
    shared: Engine = request.getfixturevalue("pg_shared_engine")
    _wipe(shared)
    yield shared
    _wipe(shared)


@pytest.fixture
def pg_engine(pg_shared_engine: Engine) -> Iterator[Engine]:
    """The PostgreSQL database alone, for the tests about concurrent writers."""
    _wipe(pg_shared_engine)
    yield pg_shared_engine
    _wipe(pg_shared_engine)


@pytest.fixture
def tenant(engine: Engine) -> str:
    """A tenant named ``acme`` in the test database."""
    with transaction(engine) as session:
        create_tenant(session, Context("acme"), "Acme Payments")
    return "acme"
