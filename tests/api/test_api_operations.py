"""Operations: metrics count decisions and rule hits, logs are JSON with the request id, and
with Redis configured readiness checks it and a revocation reaches every process."""

from __future__ import annotations

import json
import logging
import secrets
from pathlib import Path

import msgspec
import pytest
from conftest import TENANT, Api, encode, make_settings, payment
from litestar.testing import TestClient

from api.app import create_app
from api.bootstrap import create_client, create_tenant
from api.observability import JsonFormatter
from api.settings import RedisSettings
from casework.db import create_engine


def test_metrics_count_decisions_and_rule_hits(api: Api) -> None:
    headers = api.headers("integrator")
    for i in range(6):
        event = payment(f"mt-{i}", amount=1.0, timestamp=f"2026-11-25T10:0{i}:00Z", card_id="card-m")
        api.client.post("/v1/events", content=encode(event), headers=headers)
    text = api.client.get("/metrics").text
    assert 'vigil_decisions_total{outcome="approve"}' in text
    assert 'vigil_decisions_total{outcome="review"}' in text
    assert 'vigil_rule_hits_total{rule="card_testing"}' in text
    assert 'vigil_http_requests_total{method="POST",route="/v1/events",status="200"} 6.0' in text
    assert 'vigil_tokens_issued_total{role="integrator"} 1.0' in text
    # the review decisions and the case opened left messages for the delivery workers
    pending = next(line for line in text.splitlines() if line.startswith("vigil_outbox_pending "))
    assert float(pending.split()[1]) > 0


def test_log_lines_are_json_with_the_request_id(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("vigil.api.access")
    logger.propagate = True
    try:
        with caplog.at_level(logging.INFO, logger="vigil.api.access"):
            response = api.client.get("/health", headers={"X-Request-ID": "trace-42"})
    finally:
        logger.propagate = False
    record = next(r for r in caplog.records if r.name == "vigil.api.access")
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "request" and line["status"] == 200 and line["route"] == "/health"
    assert response.headers["x-request-id"] == "trace-42"


def test_with_redis_ready_checks_it_and_revocations_are_shared(
    database_url: str, signing_key_path: Path, redis_url: str
) -> None:
    db = create_engine(database_url)
    create_tenant(db, TENANT, "Acme")
    creds = create_client(db, TENANT, "integrator")
    db.dispose()
    settings = msgspec.structs.replace(
        make_settings(database_url, signing_key_path), redis=RedisSettings(url=redis_url)
    )
    with TestClient(app=create_app(settings)) as one, TestClient(app=create_app(settings)) as two:
        ready = one.get("/ready").json()
        assert ready["checks"] == {"database": "ok", "redis": "ok"}
        token = one.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(creds.client_id, creds.client_secret),
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        assert two.get(f"/v1/decisions/{secrets.token_hex(4)}", headers=headers).status_code == 404
        one.post("/oauth/revoke", data={"token": token}, auth=(creds.client_id, creds.client_secret))
        assert two.get("/v1/decisions/x", headers=headers).status_code == 401


def test_ready_says_unavailable_when_redis_is_down(database_url: str, signing_key_path: Path) -> None:
    settings = msgspec.structs.replace(
        make_settings(database_url, signing_key_path), redis=RedisSettings(url="redis://127.0.0.1:1/0")
    )
    with TestClient(app=create_app(settings)) as client:
        response = client.get("/ready")
        assert response.status_code == 503
        assert response.json()["checks"]["redis"].startswith("error")


def test_redis_down_is_a_503_problem_not_a_500(database_url: str, signing_key_path: Path) -> None:
    db = create_engine(database_url)
    create_tenant(db, TENANT, "Acme")
    db.dispose()
    settings = msgspec.structs.replace(
        make_settings(database_url, signing_key_path), redis=RedisSettings(url="redis://127.0.0.1:1/0")
    )
    app = create_app(settings)
    token, _ = app.services.tokens.issue(
        tenant=TENANT, subject="client:x", role="integrator", scopes=frozenset({"decisions:read"})
    )
    with TestClient(app=app) as client:
        response = client.get("/v1/decisions/x", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert response.headers["content-type"].startswith("application/problem+json")
