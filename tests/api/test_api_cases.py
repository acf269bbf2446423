"""Cases over HTTP: the queue, a case's detail, and the workflow from claim to resolution."""

from __future__ import annotations

import sqlalchemy as sa
from conftest import OTHER, TENANT, Api, encode, payment

from casework.models import Label


def _open_case(api: Api, card: str = "card-t") -> int:
    headers = api.headers("integrator")
    last = None
    for i in range(6):
        event = payment(f"{card}-{i}", amount=1.0, timestamp=f"2026-11-25T10:0{i}:00Z", card_id=card)
        last = api.client.post("/v1/events", content=encode(event), headers=headers).json()
    assert last is not None and last["case_ids"], last
    case_id: int = last["case_ids"][0]
    return case_id


def test_case_workflow_end_to_end(api: Api) -> None:
    case_id = _open_case(api)
    investigator = api.user("investigator")
    headers = api.user_headers(investigator, "investigator")

    page = api.client.get("/v1/cases", headers=headers).json()
    assert [c["id"] for c in page["items"]] == [case_id]
    assert page["next_cursor"] is None
    assert page["items"][0]["queue"] == "cards"

    detail = api.client.get(f"/v1/cases/{case_id}", headers=headers).json()
    assert detail["case"]["id"] == case_id
    assert detail["events"] and detail["events"][-1]["hits"]
    assert detail["timeline"][0]["action"] == "opened"

    claimed = api.client.post(f"/v1/cases/{case_id}/claim", headers=headers)
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["assignee_id"] == investigator
    assert claimed.json()["status"] == "investigating"
    mine = api.client.get("/v1/cases", params={"assignee": str(investigator)}, headers=headers).json()
    assert len(mine["items"]) == 1

    note = api.client.post(
        f"/v1/cases/{case_id}/notes", json={"body": "looks like card testing"}, headers=headers
    )
    assert note.status_code == 201, note.text
    edited = api.client.put(
        f"/v1/cases/{case_id}/notes/{note.json()['note_id']}",
        json={"body": "card testing, confirmed"},
        headers=headers,
    )
    assert edited.status_code == 200 and edited.json()["version"] == 2

    tagged = api.client.post(f"/v1/cases/{case_id}/tags", json={"add": ["Ring"]}, headers=headers)
    assert tagged.status_code == 200 and "ring" in tagged.json()["tags"]

    moved = api.client.post(f"/v1/cases/{case_id}/transition", json={"to": "escalated"}, headers=headers)
    assert moved.status_code == 200 and moved.json()["status"] == "escalated"
    backwards = api.client.post(f"/v1/cases/{case_id}/transition", json={"to": "open"}, headers=headers)
    assert backwards.status_code == 409
    no_disposition = api.client.post(
        f"/v1/cases/{case_id}/transition", json={"to": "resolved"}, headers=headers
    )
    assert no_disposition.status_code in (409, 422)
    assert no_disposition.headers["content-type"].startswith("application/problem+json")

    resolved = api.client.post(
        f"/v1/cases/{case_id}/resolve",
        json={"disposition": "fraud_confirmed", "reason": "ring"},
        headers=headers,
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["status"] == "resolved"
    with api.db.connect() as conn:
        labels = conn.execute(sa.select(Label.label).where(Label.tenant_id == TENANT)).scalars().all()
    assert labels and set(labels) == {"fraud"}

    again = api.client.post(f"/v1/cases/{case_id}/claim", headers=headers)
    assert again.status_code == 409
    active = api.client.get("/v1/cases", headers=headers).json()
    assert active["items"] == []
    everything = api.client.get("/v1/cases", params={"status": ["resolved"]}, headers=headers).json()
    assert [c["id"] for c in everything["items"]] == [case_id]


def test_assign_unassign_snooze_and_pagination(api: Api) -> None:
    ids = sorted(_open_case(api, f"card-{n}") for n in range(3))
    lead = api.user("investigator", username="lead")
    other = api.user("investigator", username="other")
    headers = api.user_headers(lead, "investigator")
    first = api.client.get("/v1/cases", params={"limit": 2}, headers=headers).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = api.client.get(
        "/v1/cases", params={"limit": 2, "after": first["next_cursor"]}, headers=headers
    ).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert sorted(c["id"] for c in first["items"] + rest["items"]) == ids

    assigned = api.client.post(f"/v1/cases/{ids[0]}/assign", json={"user_id": other}, headers=headers)
    assert assigned.status_code == 200 and assigned.json()["assignee_id"] == other
    assert api.client.post(f"/v1/cases/{ids[0]}/claim", headers=headers).status_code == 409
    assert api.client.post(f"/v1/cases/{ids[0]}/unassign", headers=headers).json()["assignee_id"] is None
    assert api.client.post(f"/v1/cases/{ids[0]}/unassign", headers=headers).status_code == 422
    nobody = api.client.post(f"/v1/cases/{ids[0]}/assign", json={"user_id": 99999}, headers=headers)
    assert nobody.status_code == 404

    snoozed = api.client.post(
        f"/v1/cases/{ids[1]}/snooze", json={"until": "2099-01-01T00:00:00Z"}, headers=headers
    )
    assert snoozed.status_code == 200, snoozed.text
    visible = api.client.get("/v1/cases", headers=headers).json()
    assert ids[1] not in [c["id"] for c in visible["items"]]
    naive = api.client.post(
        f"/v1/cases/{ids[1]}/snooze", json={"until": "2099-01-01T00:00:00"}, headers=headers
    )
    assert naive.status_code == 400


def test_bad_case_input_is_a_problem(api: Api) -> None:
    case_id = _open_case(api)
    headers = api.user_headers(api.user("investigator"), "investigator")
    for method, path, body, status in [
        ("get", "/v1/cases/not-a-number", None, 404),
        ("get", "/v1/cases/0", None, 400),
        ("get", "/v1/cases", {"priority": "whenever"}, 422),
        ("get", "/v1/cases", {"assignee": "bob"}, 400),
        ("get", "/v1/cases", {"after": "garbage"}, 422),
        ("get", "/v1/cases", {"limit": 0}, 400),
        ("post", f"/v1/cases/{case_id}/transition", {"to": "sideways"}, 422),
        ("post", f"/v1/cases/{case_id}/transition", {"to": 5}, 400),
        ("post", f"/v1/cases/{case_id}/resolve", {"disposition": "meh"}, 422),
        ("post", f"/v1/cases/{case_id}/notes", {"body": ""}, 422),
        ("post", f"/v1/cases/{case_id}/notes", {"text": "x"}, 400),
        ("put", f"/v1/cases/{case_id}/notes/nope", {"body": "x"}, 404),
        ("post", f"/v1/cases/{case_id}/tags", {}, 422),
    ]:
        if method == "get":
            response = api.client.get(path, params=body, headers=headers)  # type: ignore[arg-type]
        else:
            response = getattr(api.client, method)(path, json=body, headers=headers)
        assert response.status_code == status, (method, path, body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json"), response.text


def test_a_client_cannot_claim(api: Api) -> None:
    case_id = _open_case(api)
    response = api.client.post(f"/v1/cases/{case_id}/claim", headers=api.headers("investigator"))
    assert response.status_code == 422
    assert "person" in response.json()["detail"]


def test_another_tenants_case_is_not_found(api: Api) -> None:
    case_id = _open_case(api)
    stranger = api.user("investigator", tenant=OTHER)
    headers = api.user_headers(stranger, "investigator", tenant=OTHER)
    assert api.client.get("/v1/cases", headers=headers).json()["items"] == []
    for method, path, body in [
        ("get", f"/v1/cases/{case_id}", None),
        ("post", f"/v1/cases/{case_id}/claim", None),
        ("post", f"/v1/cases/{case_id}/assign", {"user_id": stranger}),
        ("post", f"/v1/cases/{case_id}/unassign", None),
        ("post", f"/v1/cases/{case_id}/transition", {"to": "investigating"}),
        ("post", f"/v1/cases/{case_id}/resolve", {"disposition": "legitimate"}),
        ("post", f"/v1/cases/{case_id}/snooze", {"until": "2099-01-01T00:00:00Z"}),
        ("post", f"/v1/cases/{case_id}/tags", {"add": ["x"]}),
        ("post", f"/v1/cases/{case_id}/notes", {"body": "hello"}),
        ("put", f"/v1/cases/{case_id}/notes/n1", {"body": "hello"}),
    ]:
        response = getattr(api.client, method)(path, headers=headers, **({"json": body} if body else {}))
        assert response.status_code == 404, (path, response.text)
        assert "cards" not in response.text
