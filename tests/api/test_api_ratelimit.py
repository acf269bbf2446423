"""Rate limits: a token bucket per client and per tenant answering 429 with Retry-After,
in one process, and shared by two app instances through Redis."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from conftest import OTHER, TENANT, make_settings
from litestar.testing import TestClient

from api.app import VigilApp, create_app
from api.bootstrap import create_client, create_tenant
from api.settings import RateLimitSettings, RedisSettings, Settings
from casework.db import create_engine


def _settings(database_url: str, key: Path, redis_url: str | None, prefix: str = "vigil:rate:") -> Settings:
    base = make_settings(database_url, key)
    limits = RateLimitSettings(
        client_rate=0.05, client_burst=3, tenant_rate=0.05, tenant_burst=5, prefix=prefix
    )
    return msgspec.structs.replace(base, rate_limit=limits, redis=RedisSettings(url=redis_url))


def _token(client: TestClient[VigilApp], creds: object) -> dict[str, str]:
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(creds.client_id, creds.client_secret),  # type: ignore[attr-defined]
    )
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def store(database_url: str) -> Iterator[str]:
    db = create_engine(database_url)
    create_tenant(db, TENANT, "Acme")
    create_tenant(db, OTHER, "Globex")
    db.dispose()
    yield database_url


def test_client_and_tenant_buckets(store: str, signing_key_path: Path) -> None:
    db = create_engine(store)
    first, second, other = (
        create_client(db, TENANT, "integrator"),
        create_client(db, TENANT, "integrator"),
        create_client(db, OTHER, "integrator"),
    )
    db.dispose()
    with TestClient(app=create_app(_settings(store, signing_key_path, None))) as client:
        a, b, c = _token(client, first), _token(client, second), _token(client, other)
        statuses = [client.get("/v1/decisions/x", headers=a).status_code for _ in range(4)]
        assert statuses == [404, 404, 404, 429]
        limited = client.get("/v1/decisions/x", headers=a)
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.headers["content-type"].startswith("application/problem+json")
        # another client of the tenant has its own bucket, until the tenant's (5) runs dry
        assert [client.get("/v1/decisions/x", headers=b).status_code for _ in range(3)] == [404, 404, 429]
        # another tenant is untouched
        assert client.get("/v1/decisions/x", headers=c).status_code == 404


def test_buckets_are_shared_through_redis(store: str, signing_key_path: Path, redis_url: str) -> None:
    prefix = f"vigil:test:{secrets.token_hex(4)}:"
    db = create_engine(store)
    creds = create_client(db, TENANT, "integrator")
    db.dispose()
    settings = _settings(store, signing_key_path, redis_url, prefix)
    with (
        TestClient(app=create_app(settings)) as one,
        TestClient(app=create_app(settings)) as two,
    ):
        headers = _token(one, creds)
        statuses = [
            (one if i % 2 else two).get("/v1/decisions/x", headers=headers).status_code for i in range(4)
        ]
        assert statuses == [404, 404, 404, 429]
