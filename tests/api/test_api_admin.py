"""Administration over HTTP: clients (secret shown once, rotation, disable) and users with roles."""

from __future__ import annotations

from conftest import OTHER, Api


def _token(api: Api, client_id: str, secret: str) -> int:
    response = api.client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    return response.status_code


def test_clients_lifecycle(api: Api) -> None:
    admin = api.headers("admin")
    created = api.client.post(
        "/v1/admin/clients", json={"role": "integrator", "description": "shop"}, headers=admin
    )
    assert created.status_code == 201, created.text
    creds = created.json()
    assert _token(api, creds["client_id"], creds["client_secret"]) == 200

    view = api.client.get(f"/v1/admin/clients/{creds['client_id']}", headers=admin).json()
    assert view["role"] == "integrator" and view["active"] is True
    assert "client_secret" not in view and "secret_hash" not in view

    rotated = api.client.post(f"/v1/admin/clients/{creds['client_id']}/rotate", headers=admin).json()
    assert rotated["client_secret"] != creds["client_secret"]
    assert _token(api, creds["client_id"], creds["client_secret"]) == 401
    assert _token(api, creds["client_id"], rotated["client_secret"]) == 200

    disabled = api.client.post(f"/v1/admin/clients/{creds['client_id']}/disable", headers=admin).json()
    assert disabled["active"] is False
    assert _token(api, creds["client_id"], rotated["client_secret"]) == 401
    api.client.post(f"/v1/admin/clients/{creds['client_id']}/enable", headers=admin)
    assert _token(api, creds["client_id"], rotated["client_secret"]) == 200

    bad_role = api.client.post("/v1/admin/clients", json={"role": "wizard"}, headers=admin)
    assert bad_role.status_code == 422
    stranger = api.headers("admin", OTHER)
    for method, path in [
        ("get", f"/v1/admin/clients/{creds['client_id']}"),
        ("post", f"/v1/admin/clients/{creds['client_id']}/rotate"),
        ("post", f"/v1/admin/clients/{creds['client_id']}/disable"),
        ("post", f"/v1/admin/clients/{creds['client_id']}/enable"),
    ]:
        assert getattr(api.client, method)(path, headers=stranger).status_code == 404, path


def test_users_and_roles(api: Api) -> None:
    admin = api.headers("admin")
    created = api.client.post(
        "/v1/admin/users",
        json={"username": "ines", "roles": ["investigator"], "email": "ines@example.com"},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["roles"] == ["investigator"] and user["active"] is True
    assert (
        api.client.post("/v1/admin/users", json={"username": "ines", "roles": []}, headers=admin).status_code
        == 409
    )
    changed = api.client.put(
        f"/v1/admin/users/{user['id']}/roles", json={"roles": ["analyst", "investigator"]}, headers=admin
    )
    assert changed.json()["roles"] == ["analyst", "investigator"]
    assert (
        api.client.post(f"/v1/admin/users/{user['id']}/deactivate", headers=admin).json()["active"] is False
    )
    assert api.client.post(f"/v1/admin/users/{user['id']}/activate", headers=admin).json()["active"] is True
    bad = api.client.put(f"/v1/admin/users/{user['id']}/roles", json={"roles": ["king"]}, headers=admin)
    assert bad.status_code == 422
    assert (
        api.client.get(f"/v1/admin/users/{user['id']}", headers=api.headers("admin", OTHER)).status_code
        == 404
    )
    assert api.client.get("/v1/admin/users/abc", headers=admin).status_code == 404


def test_a_disabled_clients_tokens_stop_working(api: Api) -> None:
    admin = api.headers("admin")
    creds = api.client.post("/v1/admin/clients", json={"role": "integrator"}, headers=admin).json()
    token = api.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(creds["client_id"], creds["client_secret"]),
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/v1/decisions/x", headers=headers).status_code == 404
    api.client.post(f"/v1/admin/clients/{creds['client_id']}/disable", headers=admin)
    api.app.services.active.ttl = 0  # the cache's few seconds, skipped
    response = api.client.get("/v1/decisions/x", headers=headers)
    assert response.status_code == 401 and "disabled" in response.json()["detail"]
