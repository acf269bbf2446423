"""Events, batches, decisions and labels end to end: decided, recorded before the reply,
idempotent, precise problems for bad input, one tenant never sees another's data."""

from __future__ import annotations

import time
from pathlib import Path

import msgspec
import sqlalchemy as sa
from conftest import OTHER, TENANT, Api, encode, make_settings, payment
from litestar.testing import TestClient

from api.app import create_app
from casework import rulepacks
from casework.context import Actor, Context
from casework.db import transaction
from casework.models import DecisionRecord, EventRecord, Label

TINY_PACK = """pack tiny 1.0.0 "Tiny pack for the API tests"
on payment

rule big_payment "A payment over 100"
  id "TINY-001"
  severity high
  when event.amount > 100
  then review
  score 50
  case queue "tiny" key event.card_id

outcome
  block  when score >= 80
  review when score >= 40
  approve

test "a big payment is reviewed"
  given payment { card_id: "c1", amount: 500.0 }
  expect review
  expect hits big_payment
"""


def _post(api: Api, body: object, role: str = "integrator", tenant: str = TENANT, path: str = "/v1/events"):  # type: ignore[no-untyped-def]
    content = body if isinstance(body, bytes) else encode(body)
    return api.client.post(path, content=content, headers=api.headers(role, tenant))


def test_one_event_is_decided_and_stored_before_the_reply(api: Api) -> None:
    response = _post(api, payment("evt-1"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["event_id"] == "evt-1"
    assert body["duplicate"] is False
    assert body["decision"]["outcome"] in ("approve", "review", "block")
    assert body["decision"]["pack"]["name"] == "cards"  # the demo tenant's shipped packs
    with api.db.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(EventRecord)).scalar() == 1
        assert conn.execute(sa.select(DecisionRecord.outcome)).scalar() == body["decision"]["outcome"]
    fetched = api.client.get("/v1/decisions/evt-1", headers=api.headers("integrator"))
    assert fetched.status_code == 200
    assert fetched.json()["decision"] == body["decision"]


def test_a_retry_returns_the_stored_decision_and_writes_nothing(api: Api) -> None:
    first = _post(api, payment("evt-r", amount=1.0)).json()
    again = _post(api, payment("evt-r", amount=9999.0)).json()
    assert again["duplicate"] is True
    assert again["decision"] == first["decision"]
    with api.db.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(DecisionRecord)).scalar() == 1


def test_card_testing_opens_a_case(api: Api) -> None:
    results = [
        _post(
            api, payment(f"ct-{i}", amount=1.0, timestamp=f"2026-11-25T10:0{i}:00Z", card_id="card-t")
        ).json()
        for i in range(6)
    ]
    last = results[-1]
    assert last["decision"]["outcome"] == "review"
    assert "card_testing" in [hit["rule"] for hit in last["decision"]["hits"]]
    assert last["case_ids"]


def test_bad_events_are_problems_not_500s(api: Api) -> None:
    cases = [
        (b"{not json", 400, "malformed"),
        (encode({"kind": "teleport", "id": "x", "timestamp": "2026-11-25T10:00:00Z"}), 422, "known kinds"),
        (encode(payment("x", amount="lots")), 422, "amount"),
        (encode({"kind": "payment", "timestamp": "2026-11-25T10:00:00Z"}), 422, "id"),
        (encode(payment("x", timestamp="2026-11-25T10:00:00")), 422, "timestamp"),
        (encode(payment("x", surprise=1)), 422, "surprise"),
        (encode([payment("x")]), 422, ""),
        (b"", 400, ""),
    ]
    for body, status, needle in cases:
        response = _post(api, body)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["status"] == status
        assert needle in problem["detail"], (needle, problem)
    with api.db.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(EventRecord)).scalar() == 0


def test_batch_with_bad_items_records_the_good_ones(api: Api) -> None:
    events = [
        payment("b-0"),
        {"kind": "payment", "id": "b-1", "timestamp": "not a time"},
        payment("b-2", amount=[1]),
        {"kind": "nonsense"},
        payment("b-4"),
        payment("b-0"),
        "just a string",
    ]
    response = _post(api, {"events": events}, path="/v1/events/batch")
    assert response.status_code == 200, response.text
    body = response.json()
    statuses = [item["status"] for item in body["results"]]
    assert statuses == ["decided", "rejected", "rejected", "rejected", "decided", "duplicate", "rejected"]
    assert [item["index"] for item in body["results"]] == list(range(7))
    assert body["accepted"] == 3 and body["rejected"] == 4
    assert "timestamp" in body["results"][1]["error"]
    assert "known kinds" in body["results"][3]["error"]
    with api.db.connect() as conn:
        stored = set(conn.execute(sa.select(EventRecord.event_id)).scalars())
    assert stored == {"b-0", "b-4"}
    # the whole batch again: every good item is a duplicate with the same decision
    again = _post(api, {"events": events}, path="/v1/events/batch").json()
    assert [i["status"] for i in again["results"]][:1] == ["duplicate"]
    assert again["results"][0]["decision"] == body["results"][0]["decision"]


def test_batch_shape_and_size_problems(api: Api) -> None:
    too_many = {"events": [payment(f"m-{i}") for i in range(1001)]}
    for body, status in [
        (too_many, 422),
        ({"events": []}, 422),
        ([payment("x")], 422),
        ({"events": "nope"}, 422),
        ({"events": [], "extra": 1}, 422),
        (b"{oops", 400),
    ]:
        response = _post(api, body, path="/v1/events/batch")
        assert response.status_code == status, (response.text, body if isinstance(body, bytes) else "")
        assert response.headers["content-type"].startswith("application/problem+json")


def test_batch_of_a_thousand(api: Api) -> None:
    events = [payment(f"k-{i}", card_id=f"card-{i % 50}", amount=float(i % 300)) for i in range(1000)]
    started = time.perf_counter()
    body = _post(api, {"events": events}, path="/v1/events/batch").json()
    assert time.perf_counter() - started < 20
    assert body["accepted"] == 1000 and body["rejected"] == 0
    with api.db.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(DecisionRecord)).scalar() == 1000


def test_labels(api: Api) -> None:
    _post(api, payment("lab-1"))
    response = api.client.post(
        "/v1/labels", json={"event_id": "lab-1", "label": "fraud"}, headers=api.headers("integrator")
    )
    assert response.status_code == 201, response.text
    assert response.json()["label"] == "fraud" and response.json()["source"] == "api"
    bad = api.client.post(
        "/v1/labels", json={"event_id": "lab-1", "label": "sus"}, headers=api.headers("integrator")
    )
    assert bad.status_code == 422 and "unknown label" in bad.json()["detail"]
    wrong_type = api.client.post(
        "/v1/labels", json={"event_id": 5, "label": "fraud"}, headers=api.headers("integrator")
    )
    assert wrong_type.status_code == 400
    assert wrong_type.headers["content-type"].startswith("application/problem+json")
    with api.db.connect() as conn:
        assert conn.execute(sa.select(Label.tenant_id, Label.label)).all() == [(TENANT, "fraud")]


def test_another_tenants_event_is_not_found(api: Api) -> None:
    _post(api, payment("secret-1"))
    mine = api.client.get("/v1/decisions/secret-1", headers=api.headers("integrator"))
    assert mine.status_code == 200
    theirs = api.client.get("/v1/decisions/secret-1", headers=api.headers("integrator", OTHER))
    assert theirs.status_code == 404
    assert theirs.headers["content-type"].startswith("application/problem+json")
    assert "secret-1" not in theirs.text or "no decision" in theirs.text
    # the other tenant may use the same event id for its own event
    other = _post(api, payment("secret-1"), tenant=OTHER).json()
    assert other["duplicate"] is False
    assert other["decision"]["outcome"] == "approve"  # no packs published for globex: approve all


def test_a_publish_is_picked_up_within_seconds(api: Api) -> None:
    first = _post(api, payment("p-1", amount=500.0), tenant=OTHER).json()
    assert first["decision"]["hits"] == []
    ctx = Context(OTHER, Actor("user", "analyst-1"))
    with transaction(api.db) as session:
        rulepacks.upload(session, ctx, "tiny", "1.0.0", TINY_PACK)
        rulepacks.publish(session, ctx, "tiny", "1.0.0")
    deadline = time.monotonic() + 5
    outcome = None
    n = 2
    while time.monotonic() < deadline:
        result = _post(api, payment(f"p-{n}", amount=500.0), tenant=OTHER).json()
        n += 1
        outcome = result["decision"]["outcome"]
        if outcome == "review":
            assert result["decision"]["pack"] == {"name": "tiny", "version": "1.0.0"}
            assert result["case_ids"]
            break
        time.sleep(0.1)
    assert outcome == "review"


def test_a_value_the_store_refuses_is_a_422_not_a_500(api: Api) -> None:
    response = _post(api, payment("nul\u0000id"))
    expected = 422 if api.db.dialect.name == "postgresql" else 200  # PostgreSQL text cannot hold NUL
    assert response.status_code == expected, response.text
    huge = api.client.get(
        f"/v1/cases/{2**64}", headers=api.user_headers(api.user("investigator"), "investigator")
    )
    assert huge.status_code == 400


def test_a_new_process_replays_recent_events_into_its_detectors(api: Api, signing_key_path: Path) -> None:
    for i in range(4):
        event = payment(f"w-{i}", amount=1.0, timestamp=f"2026-11-25T10:0{i}:00Z", card_id="card-w")
        _post(api, event)
    url = api.db.url.render_as_string(hide_password=False)
    for hours, expected in ((24.0, "review"), (0.0, "approve")):
        settings = make_settings(url, signing_key_path)
        settings = msgspec.structs.replace(
            settings, engine=msgspec.structs.replace(settings.engine, warm_hours=hours)
        )
        with TestClient(app=create_app(settings)) as fresh:
            token, _ = fresh.app.services.tokens.issue(  # type: ignore[attr-defined]
                tenant=TENANT,
                subject=f"client:{api.credentials('integrator').client_id}",
                role="integrator",
                scopes=frozenset({"events:write"}),
            )
            event = payment(f"w-new-{hours}", amount=1.0, timestamp="2026-11-25T10:05:00Z", card_id="card-w")
            body = fresh.post(
                "/v1/events", content=encode(event), headers={"Authorization": f"Bearer {token}"}
            ).json()
            assert body["decision"]["outcome"] == expected, (hours, body)
