"""The app's own surface: health, readiness, schema, metrics, request ids, problem details."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Api


def test_health_and_ready(api: Api) -> None:
    assert api.client.get("/health").json() == {"status": "ok"}
    ready = api.client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"


def test_request_id_on_every_response(api: Api) -> None:
    for path in ("/health", "/nowhere", "/v1/events"):
        response = api.client.get(path)
        assert len(response.headers["x-request-id"]) >= 16
    echoed = api.client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    hostile = api.client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
    assert hostile.headers["x-request-id"] != "bad id\twith spaces"


def test_unknown_route_is_problem_json(api: Api) -> None:
    response = api.client.get("/nowhere")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == 404
    assert body["type"].startswith("https://vigil.dev/problems/")
    assert body["request_id"] == response.headers["x-request-id"]


def test_openapi_31_documents_every_route(api: Api) -> None:
    schema = api.client.get("/schema/openapi.json").json()
    assert schema["openapi"].startswith("3.1")
    paths = schema["paths"]
    for path in ("/v1/events", "/v1/events/batch", "/v1/decisions/{event_id}", "/v1/labels", "/oauth/token"):
        assert path in paths, path
    assert "bearer" in schema["components"]["securitySchemes"]
    body = paths["/v1/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["discriminator"]["propertyName"] == "kind"
    assert "Payment" in schema["components"]["schemas"]
    batch = paths["/v1/events/batch"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert batch["$ref"].endswith("_BatchBody")
    for path, item in paths.items():
        if path.startswith("/v1"):
            for operation in item.values():
                responses = operation["responses"]
                for status in ("400", "401", "403", "404", "422", "429"):
                    assert "application/problem+json" in responses[status]["content"], (path, status)
                assert operation["security"] == [{"bearer": []}]


def test_metrics_exposes_requests_and_latency(api: Api) -> None:
    api.client.get("/health")
    text = api.client.get("/metrics").text
    assert "vigil_http_requests_total" in text
    assert "vigil_http_request_duration_seconds_bucket" in text
    assert 'route="/health"' in text


def test_jwks_has_the_signing_key(api: Api) -> None:
    keys = api.client.get("/.well-known/jwks.json").json()["keys"]
    assert len(keys) == 1
    assert keys[0]["kty"] == "OKP" and keys[0]["crv"] == "Ed25519"
    assert "d" not in keys[0]
    assert json.dumps(keys[0])


def test_demo_bootstrap_is_idempotent(database_url: str, tmp_path: Path) -> None:
    from api.bootstrap import ensure_demo

    creds_file = tmp_path / "demo-client.json"
    first = ensure_demo(database_url, "demo", creds_file)
    again = ensure_demo(database_url, "demo", creds_file)
    assert first.created and not again.created
    assert again.integrator == first.integrator
    assert oct(creds_file.stat().st_mode & 0o777) == "0o600"
