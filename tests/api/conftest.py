"""The API suite: the real app (Litestar's TestClient, or uvicorn on loopback) on a migrated
SQLite file and on the real PostgreSQL of `make test`, with tenants and clients made the
way the CLI makes them."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
import sqlalchemy as sa
from litestar.testing import TestClient
from sqlalchemy.engine import Engine

from api.app import VigilApp, create_app
from api.auth.scopes import scopes_for
from api.bootstrap import ClientCredentials, create_client, create_tenant
from api.settings import (
    AuditSettings,
    AuthSettings,
    DatabaseSettings,
    EngineSettings,
    LogSettings,
    RateLimitSettings,
    RedisSettings,
    Settings,
)
from casework import migrate
from casework.context import Context
from casework.db import create_engine, transaction
from casework.models import Base
from casework.settings import PROJECT_ROOT
from casework.tenants import create_user

TENANT = "acme"
OTHER = "globex"


@pytest.fixture(scope="session")
def api_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("api-sqlite") / "template.sqlite3"
    engine = create_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def api_pg_url(postgres_url: str) -> Iterator[str]:
    """One migrated PostgreSQL database for the API suite, emptied around each test."""
    url = sa.make_url(postgres_url)
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = f"vigil_api_t{os.getpid()}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    db_url = url.set(database=name).render_as_string(hide_password=False)
    engine = create_engine(db_url)
    migrate.upgrade(engine)
    engine.dispose()
    yield db_url
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def _wipe(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        for table in Base.metadata.sorted_tables:
            conn.execute(table.delete())
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, api_sqlite_template: Path, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "vigil.sqlite3"
        shutil.copyfile(api_sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    url: str = request.getfixturevalue("api_pg_url")
    _wipe(url)
    yield url
    _wipe(url)


@pytest.fixture(scope="session")
def signing_key_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys") / "token-signing.pem"


def make_settings(database_url: str, key_path: Path, poll_seconds: float = 0.2) -> Settings:
    return Settings(
        database=DatabaseSettings(url=database_url),
        redis=RedisSettings(url=None),
        auth=AuthSettings(signing_key_path=key_path, token_ttl=300),
        engine=EngineSettings(
            rulepacks_dir=PROJECT_ROOT / "rulepacks", demo_tenant=TENANT, poll_seconds=poll_seconds
        ),
        log=LogSettings(level="WARNING"),
        audit=AuditSettings(export_key_path=key_path.with_name("audit-export.pem")),
        # the role matrix and the other suites send many requests quickly; limits have their own test
        rate_limit=RateLimitSettings(client_rate=0, tenant_rate=0),
    )


class Api:
    """The app under test with a store holding two tenants, and helpers to get tokens."""

    def __init__(self, app: VigilApp, client: TestClient[VigilApp], db: Engine) -> None:
        self.app = app
        self.client = client
        self.db = db
        self._clients: dict[tuple[str, str], ClientCredentials] = {}

    def credentials(self, role: str, tenant: str = TENANT) -> ClientCredentials:
        key = (tenant, role)
        if key not in self._clients:
            self._clients[key] = create_client(self.db, tenant, role, f"test {role}")
        return self._clients[key]

    def token(self, role: str, tenant: str = TENANT) -> str:
        creds = self.credentials(role, tenant)
        response = self.client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(creds.client_id, creds.client_secret),
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def headers(self, role: str, tenant: str = TENANT) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, tenant)}"}

    def user(self, role: str, tenant: str = TENANT, username: str | None = None) -> int:
        """A person with ``role`` in the store (people sign-in is not built: tests mint their tokens)."""
        with transaction(self.db) as session:
            user = create_user(session, Context(tenant), username or f"{role}-{tenant}", [role])
            return user.id

    def user_headers(self, user_id: int, role: str, tenant: str = TENANT) -> dict[str, str]:
        token, _ = self.app.services.tokens.issue(
            tenant=tenant, subject=f"user:{user_id}", role=role, scopes=scopes_for(role)
        )
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api(database_url: str, signing_key_path: Path) -> Iterator[Api]:
    db = create_engine(database_url)
    create_tenant(db, TENANT, "Acme Payments")
    create_tenant(db, OTHER, "Globex")
    app = create_app(make_settings(database_url, signing_key_path))
    with TestClient(app=app, raise_server_exceptions=False) as client:
        yield Api(app, client, db)
    db.dispose()


def payment(event_id: str, **fields: object) -> dict[str, object]:
    body: dict[str, object] = {
        "kind": "payment",
        "id": event_id,
        "timestamp": "2026-11-25T10:00:00Z",
        "amount": 42.5,
        "currency": "EUR",
        "card_id": "card-1",
        "user_id": "user-1",
        "merchant_id": "m-1",
    }
    body.update(fields)
    return body


def encode(value: object) -> bytes:
    return msgspec.json.encode(value)
