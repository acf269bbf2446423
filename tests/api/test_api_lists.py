"""Managed lists and reference data over HTTP; a list edit changes decisions at once."""

from __future__ import annotations

from conftest import OTHER, Api, encode, payment


def test_a_blocked_ip_list_edit_changes_the_next_decision(api: Api) -> None:
    analyst = api.headers("analyst")
    integrator = api.headers("integrator")

    def outcome(event_id: str) -> str:
        body = api.client.post(
            "/v1/events", content=encode(payment(event_id, ip="203.0.113.9")), headers=integrator
        )
        result: str = body.json()["decision"]["outcome"]
        return result

    assert outcome("ip-1") == "approve"
    created = api.client.post(
        "/v1/lists", json={"name": "blocked_ips", "description": "bad"}, headers=analyst
    )
    assert created.status_code == 201, created.text
    assert api.client.post("/v1/lists", json={"name": "blocked_ips"}, headers=analyst).status_code == 409
    added = api.client.post(
        "/v1/lists/blocked_ips/items", json={"items": ["203.0.113.9", " 10.0.0.1 "]}, headers=analyst
    )
    assert added.status_code == 200, added.text
    assert added.json()["changed"] == ["10.0.0.1", "203.0.113.9"]
    assert outcome("ip-2") == "block"

    removed = api.client.post(
        "/v1/lists/blocked_ips/items/remove", json={"items": ["203.0.113.9"]}, headers=analyst
    )
    assert removed.json()["items"] == ["10.0.0.1"]
    assert outcome("ip-3") == "approve"
    listed = api.client.get("/v1/lists/blocked_ips", headers=api.headers("investigator")).json()
    assert listed == {"name": "blocked_ips", "items": ["10.0.0.1"]}
    history = api.client.get("/v1/lists/blocked_ips/history", headers=analyst).json()
    assert [(h["value"], h["op"]) for h in history] == [
        ("10.0.0.1", "add"),
        ("203.0.113.9", "add"),
        ("203.0.113.9", "remove"),
    ]

    assert api.client.get("/v1/lists/blocked_ips", headers=api.headers("analyst", OTHER)).status_code == 404
    for body in ({"items": []}, {"items": "x"}, {"values": ["x"]}):
        assert api.client.post("/v1/lists/blocked_ips/items", json=body, headers=analyst).status_code == 400
    assert (
        api.client.post("/v1/lists/blocked_ips/items", json={"items": [""]}, headers=analyst).status_code
        == 422
    )


def test_reference_data(api: Api) -> None:
    analyst = api.headers("analyst")
    record = {"id": "v7", "tank_liters": 60}
    put = api.client.put("/v1/reference/vehicles/v7", json=record, headers=analyst)
    assert put.status_code == 200, put.text
    assert api.client.get("/v1/reference/vehicles", headers=analyst).json() == {
        "dataset": "vehicles",
        "items": {"v7": record},
    }
    assert (
        api.client.get("/v1/reference/vehicles", headers=api.headers("analyst", OTHER)).json()["items"] == {}
    )
    assert (
        api.client.delete("/v1/reference/vehicles/v7", headers=api.headers("analyst", OTHER)).status_code
        == 404
    )
    assert api.client.delete("/v1/reference/vehicles/v7", headers=analyst).status_code == 204
    assert api.client.delete("/v1/reference/vehicles/v7", headers=analyst).status_code == 404
