"""Tenant isolation: every route that takes an id, called with another tenant's id, answers
404 (or, for a collection named by the id, an empty one), never 403 and never the data."""

from __future__ import annotations

from typing import Any

from conftest import OTHER, TENANT, Api, encode, payment
from test_api_events import TINY_PACK

from api.auth.scopes import ALL_SCOPES


def _all_scopes(api: Api, tenant: str, username: str = "root") -> dict[str, str]:
    user = api.user("admin", tenant=tenant, username=username)
    token, _ = api.app.services.tokens.issue(
        tenant=tenant, subject=f"user:{user}", role="admin", scopes=ALL_SCOPES
    )
    return {"Authorization": f"Bearer {token}"}


def _seed(api: Api, headers: dict[str, str]) -> dict[str, Any]:
    """One of everything in the first tenant; returns the ids."""
    last: dict[str, Any] = {}
    for i in range(6):
        event = payment(f"iso-{i}", amount=1.0, timestamp=f"2026-11-25T10:0{i}:00Z", card_id="card-iso")
        last = api.client.post("/v1/events", content=encode(event), headers=headers).json()
    case_id = last["case_ids"][0]
    note = api.client.post(f"/v1/cases/{case_id}/notes", json={"body": "secret note"}, headers=headers).json()
    api.client.post("/v1/rulepacks", json={"source": TINY_PACK}, headers=headers)
    api.client.post("/v1/lists", json={"name": "vip"}, headers=headers)
    api.client.post("/v1/lists/vip/items", json={"items": ["secret-item"]}, headers=headers)
    api.client.put("/v1/reference/vehicles/v7", json={"id": "v7", "tank_liters": 60}, headers=headers)
    client = api.client.post("/v1/admin/clients", json={"role": "integrator"}, headers=headers).json()
    user = api.client.post(
        "/v1/admin/users", json={"username": "spy", "roles": ["analyst"]}, headers=headers
    ).json()
    return {"case": case_id, "note": note["note_id"], "client": client["client_id"], "user": user["id"]}


def test_every_id_route_answers_404_to_another_tenant(api: Api) -> None:
    ids = _seed(api, _all_scopes(api, TENANT))
    stranger = _all_scopes(api, OTHER)
    case, note, client, user = ids["case"], ids["note"], ids["client"], ids["user"]
    calls: list[tuple[str, str, Any]] = [
        ("get", "/v1/decisions/iso-1", None),
        ("get", f"/v1/cases/{case}", None),
        ("post", f"/v1/cases/{case}/claim", None),
        ("post", f"/v1/cases/{case}/assign", {"user_id": user}),
        ("post", f"/v1/cases/{case}/unassign", None),
        ("post", f"/v1/cases/{case}/transition", {"to": "escalated"}),
        ("post", f"/v1/cases/{case}/resolve", {"disposition": "legitimate"}),
        ("post", f"/v1/cases/{case}/snooze", {"until": "2099-01-01T00:00:00Z"}),
        ("post", f"/v1/cases/{case}/tags", {"add": ["x"]}),
        ("post", f"/v1/cases/{case}/notes", {"body": "x"}),
        ("put", f"/v1/cases/{case}/notes/{note}", {"body": "x"}),
        ("get", "/v1/rulepacks/tiny/versions/1.0.0", None),
        ("get", "/v1/rulepacks/tiny/diff?from=1.0.0&to=1.0.0", None),
        ("post", "/v1/rulepacks/tiny/publish", {"version": "1.0.0"}),
        ("get", "/v1/lists/vip", None),
        ("post", "/v1/lists/vip/items", {"items": ["x"]}),
        ("post", "/v1/lists/vip/items/remove", {"items": ["secret-item"]}),
        ("get", "/v1/lists/vip/history", None),
        ("delete", "/v1/reference/vehicles/v7", None),
        ("get", f"/v1/admin/clients/{client}", None),
        ("post", f"/v1/admin/clients/{client}/rotate", None),
        ("post", f"/v1/admin/clients/{client}/disable", None),
        ("post", f"/v1/admin/clients/{client}/enable", None),
        ("get", f"/v1/admin/users/{user}", None),
        ("put", f"/v1/admin/users/{user}/roles", {"roles": ["admin"]}),
        ("post", f"/v1/admin/users/{user}/deactivate", None),
        ("post", f"/v1/admin/users/{user}/activate", None),
    ]
    for method, path, body in calls:
        kwargs: dict[str, Any] = {"headers": stranger}
        if body is not None:
            kwargs["json"] = body
        response = getattr(api.client, method)(path, **kwargs)
        assert response.status_code == 404, (method, path, response.status_code, response.text)
        assert "secret" not in response.text
    # collections named by an id are simply empty for the other tenant
    assert api.client.get("/v1/rulepacks/tiny/versions", headers=stranger).json() == []
    assert api.client.get("/v1/reference/vehicles", headers=stranger).json()["items"] == {}
    # rollback of a pack the other tenant never published: nothing to roll back, nothing shown
    rollback = api.client.post("/v1/rulepacks/tiny/rollback", json={}, headers=stranger)
    assert rollback.status_code == 422 and "1.0.0" not in rollback.text
    # and the first tenant's data is untouched
    owner = _all_scopes(api, TENANT, "root-2")
    assert api.client.get(f"/v1/cases/{case}", headers=owner).json()["case"]["status"] == "open"
    assert api.client.get("/v1/lists/vip", headers=owner).json()["items"] == ["secret-item"]
    assert api.client.get(f"/v1/admin/users/{user}", headers=owner).json()["roles"] == ["analyst"]
