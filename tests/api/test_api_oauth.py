"""OAuth2: client credentials, JWT claims and signature, revocation, introspection, audit."""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
import sqlalchemy as sa
import uvicorn
from authlib.integrations.httpx_client import OAuth2Client
from conftest import OTHER, TENANT, Api, make_settings, payment
from joserfc import jwt
from joserfc.jwk import KeySet

from api.app import create_app
from api.auth.scopes import ROLE_SCOPES
from api.bootstrap import create_client, create_tenant
from api.cli import main as cli_main
from casework.db import create_engine
from casework.models import ApiClient, AuditEntry


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def live_server(database_url: str, signing_key_path: Path) -> Iterator[str]:
    """The app under uvicorn on a loopback port, as a real client meets it."""
    db = create_engine(database_url)
    create_tenant(db, TENANT, "Acme Payments")
    db.dispose()
    port = _free_port()
    config = uvicorn.Config(
        create_app(make_settings(database_url, signing_key_path)),
        host="127.0.0.1",
        port=port,
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_authlib_client_credentials_flow_against_a_live_server(live_server: str, database_url: str) -> None:
    db = create_engine(database_url)
    creds = create_client(db, TENANT, "integrator")
    db.dispose()
    with OAuth2Client(creds.client_id, creds.client_secret, base_url=live_server) as client:
        token = client.fetch_token(f"{live_server}/oauth/token", grant_type="client_credentials")
        assert token["token_type"] == "Bearer"
        assert set(token["scope"].split()) == ROLE_SCOPES["integrator"]
        response = client.post("/v1/events", content=msgspec.json.encode(payment("live-1")))
        assert response.status_code == 200, response.text
        assert response.json()["decision"]["event_id"] == "live-1"
        assert client.get("/v1/decisions/live-1").json()["event_id"] == "live-1"
    # the same client with the secret in the form body (client_secret_post)
    with OAuth2Client(
        creds.client_id, creds.client_secret, token_endpoint_auth_method="client_secret_post"
    ) as client:
        token = client.fetch_token(f"{live_server}/oauth/token", grant_type="client_credentials")
        assert token["access_token"]


def test_token_is_an_ed25519_jwt_with_kid_tenant_scope_and_expiry(api: Api) -> None:
    token = api.token("analyst")
    keys = KeySet.import_key_set(api.client.get("/.well-known/jwks.json").json())
    decoded = jwt.decode(token, keys, algorithms=["Ed25519"])
    assert decoded.header["alg"] == "Ed25519"
    assert decoded.header["kid"] == keys.keys[0].kid
    claims = decoded.claims
    assert claims["tenant"] == TENANT
    assert claims["role"] == "analyst"
    assert set(claims["scope"].split()) == ROLE_SCOPES["analyst"]
    assert claims["exp"] - claims["iat"] == 300
    assert claims["sub"].startswith("client:vc_")


def test_bad_credentials_and_grants(api: Api) -> None:
    creds = api.credentials("integrator")
    wrong = api.client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(creds.client_id, "nope")
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    unknown = api.client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("vc_x", "y"))
    assert unknown.status_code == 401
    grant = api.client.post(
        "/oauth/token", data={"grant_type": "password"}, auth=(creds.client_id, creds.client_secret)
    )
    assert grant.json()["error"] == "unsupported_grant_type"
    scope = api.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "events:write audit:read"},
        auth=(creds.client_id, creds.client_secret),
    )
    assert scope.status_code == 400 and scope.json()["error"] == "invalid_scope"
    narrowed = api.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "decisions:read"},
        auth=(creds.client_id, creds.client_secret),
    )
    assert narrowed.json()["scope"] == "decisions:read"
    headers = {"Authorization": f"Bearer {narrowed.json()['access_token']}"}
    assert api.client.post("/v1/events", content=b"{}", headers=headers).status_code == 403
    garbled = base64.b64encode(b"no-colon").decode()
    bad_basic = api.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {garbled}"},
    )
    assert bad_basic.status_code == 401


def test_disabled_client_gets_no_token(api: Api) -> None:
    creds = api.credentials("integrator")
    with api.db.begin() as conn:
        conn.execute(sa.update(ApiClient).where(ApiClient.id == creds.client_id).values(active=False))
    response = api.client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(creds.client_id, creds.client_secret)
    )
    assert response.status_code == 401


def test_bad_tokens_are_401_problems(api: Api) -> None:
    for header in ({}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic abc"}):
        response = api.client.get("/v1/decisions/x", headers=header)
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.headers["www-authenticate"].startswith("Bearer")
    token = api.token("integrator")
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    response = api.client.get("/v1/decisions/x", headers={"Authorization": f"Bearer {tampered}"})
    assert response.status_code == 401


def test_revocation_and_introspection(api: Api) -> None:
    creds = api.credentials("integrator")
    token = api.token("integrator")
    auth = (creds.client_id, creds.client_secret)
    live = api.client.post("/oauth/introspect", data={"token": token}, auth=auth).json()
    assert live["active"] is True
    assert live["tenant"] == TENANT and live["client_id"] == creds.client_id
    # another tenant's client learns nothing about this token
    other = api.credentials("integrator", OTHER)
    foreign = api.client.post(
        "/oauth/introspect", data={"token": token}, auth=(other.client_id, other.client_secret)
    )
    assert foreign.json() == {"active": False}
    assert api.client.post("/oauth/revoke", data={"token": token}, auth=auth).status_code == 200
    assert api.client.post("/oauth/introspect", data={"token": token}, auth=auth).json() == {"active": False}
    response = api.client.get("/v1/decisions/x", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    # revoking garbage is not an error (RFC 7009 §2.2)
    assert api.client.post("/oauth/revoke", data={"token": "garbage"}, auth=auth).status_code == 200
    assert api.client.post("/oauth/revoke", data={"token": token}).status_code == 401


def test_every_token_issued_and_revoked_is_audited(api: Api) -> None:
    creds = api.credentials("integrator")
    token = api.token("integrator")
    api.client.post("/oauth/revoke", data={"token": token}, auth=(creds.client_id, creds.client_secret))
    with api.db.connect() as conn:
        actions = list(
            conn.execute(
                sa.select(AuditEntry.action, AuditEntry.actor_type, AuditEntry.actor_id).where(
                    AuditEntry.tenant_id == TENANT, AuditEntry.object_id == creds.client_id
                )
            )
        )
    names = [a for a, _, _ in actions]
    assert names.count("token.issued") == 1
    assert names.count("token.revoked") == 1
    assert ("token.issued", "client", creds.client_id) in [tuple(row) for row in actions]


def test_cli_clients_create_prints_credentials_once(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db = create_engine(database_url)
    create_tenant(db, TENANT, "Acme")
    assert (
        cli_main(["clients", "create", "--tenant", TENANT, "--role", "integrator", "--url", database_url])
        == 0
    )
    printed = msgspec.json.decode(capsys.readouterr().out)
    assert set(printed) == {"client_id", "client_secret"}
    with db.connect() as conn:
        stored = conn.execute(sa.select(ApiClient).where(ApiClient.id == printed["client_id"])).one()
    assert stored.secret_hash.startswith("$argon2")
    assert printed["client_secret"] not in stored.secret_hash
    assert (
        cli_main(["clients", "create", "--tenant", "nobody", "--role", "integrator", "--url", database_url])
        == 1
    )
    assert cli_main(["clients", "create", "--tenant", TENANT, "--role", "wizard", "--url", database_url]) == 1
    db.dispose()
