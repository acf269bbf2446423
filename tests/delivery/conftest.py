"""Fixtures of the delivery suite: migrated SQLite and PostgreSQL databases, a tenant, and a
real HTTP receiver on 127.0.0.1 whose answers a test scripts."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from delivery_receiver import Receiver
from sqlalchemy.engine import Engine

from casework import migrate
from casework.context import Context
from casework.db import create_engine, transaction
from casework.models import Base
from casework.tenants import create_tenant

TENANT = "acme"


@pytest.fixture(scope="session")
def delivery_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("delivery-template") / "template.sqlite3"
    engine = create_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def delivery_pg_engine(postgres_url: str) -> Iterator[Engine]:
    """One migrated PostgreSQL database for the session, emptied around every test."""
    url = sa.make_url(postgres_url)
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = f"vigil_d{os.getpid()}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine = create_engine(url.set(database=name).render_as_string(hide_password=False))
    migrate.upgrade(engine)
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def _wipe(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        for table in Base.metadata.sorted_tables:
            conn.execute(table.delete())


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(
    request: pytest.FixtureRequest, delivery_sqlite_template: Path, tmp_path: Path
) -> Iterator[Engine]:
    """A migrated, empty database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "vigil.sqlite3"
        shutil.copyfile(delivery_sqlite_template, path)
        eng = create_engine(f"sqlite:///{path}")
        yield eng
        eng.dispose()
        return
    shared: Engine = request.getfixturevalue("delivery_pg_engine")
    _wipe(shared)
    yield shared
    _wipe(shared)


@pytest.fixture
def pg_engine(delivery_pg_engine: Engine) -> Iterator[Engine]:
    _wipe(delivery_pg_engine)
    yield delivery_pg_engine
    _wipe(delivery_pg_engine)


@pytest.fixture
def tenant(engine: Engine) -> str:
    with transaction(engine) as session:
        create_tenant(session, Context(TENANT), "Acme Payments")
    return TENANT


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()
