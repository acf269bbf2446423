"""Rulepacks over HTTP: upload with diagnostics, validate, test, diff, publish, roll back."""

from __future__ import annotations

import time

from conftest import OTHER, Api, encode, payment
from test_api_events import TINY_PACK

TINY_V2 = (
    TINY_PACK.replace("tiny 1.0.0", "tiny 1.1.0")
    .replace("event.amount > 100", "event.amount > 1000")
    .replace(
        '  given payment { card_id: "c1", amount: 500.0 }',
        '  given payment { card_id: "c1", amount: 5000.0 }',
    )
    + """
rule odd_currency "A currency we do not expect"
  severity low
  when event.currency == "XXX"
  score 5
"""
)

BROKEN = """pack broken 1.0.0 "Broken"
on payment

rule r "typo"
  severity high
  when event.amout > 100
  then review
  score 50

outcome
  review when score >= 40
  approve
"""


def test_upload_publish_rollback_and_engine_reload(api: Api) -> None:
    analyst = api.headers("analyst", OTHER)
    uploaded = api.client.post("/v1/rulepacks", json={"source": TINY_PACK}, headers=analyst)
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["pack"] == "tiny" and uploaded.json()["version"] == "1.0.0"
    again = api.client.post("/v1/rulepacks", json={"source": TINY_PACK}, headers=analyst)
    assert again.status_code == 409
    assert api.client.post("/v1/rulepacks", json={"source": TINY_V2}, headers=analyst).status_code == 201

    versions = api.client.get("/v1/rulepacks/tiny/versions", headers=analyst).json()
    assert [v["version"] for v in versions] == ["1.0.0", "1.1.0"]
    one = api.client.get("/v1/rulepacks/tiny/versions/1.1.0", headers=analyst).json()
    assert one["source"] == TINY_V2
    diff = api.client.get("/v1/rulepacks/tiny/diff", params={"from": "1.0.0", "to": "1.1.0"}, headers=analyst)
    assert diff.json() | {} == {
        "pack": "tiny",
        "from_version": "1.0.0",
        "to_version": "1.1.0",
        "added": ["odd_currency"],
        "removed": [],
        "changed": ["big_payment"],
    }

    assert api.client.get("/v1/rulepacks", headers=analyst).json() == []
    published = api.client.post("/v1/rulepacks/tiny/publish", json={"version": "1.0.0"}, headers=analyst)
    assert published.status_code == 200, published.text
    assert (
        api.client.post("/v1/rulepacks/tiny/publish", json={"version": "1.1.0"}, headers=analyst).status_code
        == 200
    )
    assert [p["version"] for p in api.client.get("/v1/rulepacks", headers=analyst).json()] == ["1.1.0"]

    integrator = api.headers("integrator", OTHER)

    def outcome_of(event_id: str) -> str:
        body = api.client.post(
            "/v1/events", content=encode(payment(event_id, amount=500.0)), headers=integrator
        )
        result: str = body.json()["decision"]["outcome"]
        return result

    deadline = time.monotonic() + 5
    n = 0
    while outcome_of(f"v2-{n}") != "approve" and time.monotonic() < deadline:
        n += 1
        time.sleep(0.1)
    assert outcome_of("v2-final") == "approve"  # 1.1.0 reviews only over 1000

    rolled = api.client.post("/v1/rulepacks/tiny/rollback", json={}, headers=analyst)
    assert rolled.status_code == 200 and rolled.json()["version"] == "1.0.0"
    deadline = time.monotonic() + 5
    while outcome_of(f"v1-{n}") != "review" and time.monotonic() < deadline:
        n += 1
        time.sleep(0.1)
    assert outcome_of("v1-final") == "review"
    never = api.client.post("/v1/rulepacks/tiny/rollback", json={"to_version": "9.9.9"}, headers=analyst)
    assert never.status_code == 404


def test_a_pack_that_does_not_check_is_a_422_with_diagnostics(api: Api) -> None:
    analyst = api.headers("analyst")
    response = api.client.post("/v1/rulepacks", json={"source": BROKEN}, headers=analyst)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    diagnostic = next(d for d in body["diagnostics"] if d["severity"] == "error")
    assert diagnostic["line"] == 6 and "amout" in diagnostic["message"]
    assert "6:" in body["detail"]
    assert api.client.get("/v1/rulepacks/broken/versions", headers=analyst).json() == []

    checked = api.client.post("/v1/rulepacks/validate", json={"source": BROKEN}, headers=analyst).json()
    assert checked["ok"] is False and checked["diagnostics"]
    good = api.client.post("/v1/rulepacks/validate", json={"source": TINY_PACK}, headers=analyst).json()
    assert good["ok"] is True and good["pack"] == "tiny" and good["kinds"] == ["payment"]

    tested = api.client.post("/v1/rulepacks/test", json={"source": TINY_PACK}, headers=analyst).json()
    assert tested["ok"] is True and tested["passed"] == 1 and tested["failed"] == 0
    failing = TINY_PACK.replace("expect review", "expect block")
    tested = api.client.post("/v1/rulepacks/test", json={"source": failing}, headers=analyst).json()
    assert tested["ok"] is False and tested["failed"] == 1 and tested["results"][0]["failures"]

    for body in ({"source": ""}, {"src": "x"}, {"source": 5}):
        response = api.client.post("/v1/rulepacks", json=body, headers=analyst)
        assert response.status_code == 400, response.text


def test_another_tenants_packs_are_not_found(api: Api) -> None:
    api.client.post("/v1/rulepacks", json={"source": TINY_PACK}, headers=api.headers("analyst"))
    stranger = api.headers("analyst", OTHER)
    assert api.client.get("/v1/rulepacks/tiny/versions", headers=stranger).json() == []
    assert api.client.get("/v1/rulepacks/tiny/versions/1.0.0", headers=stranger).status_code == 404
    assert (
        api.client.post("/v1/rulepacks/tiny/publish", json={"version": "1.0.0"}, headers=stranger).status_code
        == 404
    )
    diff = api.client.get(
        "/v1/rulepacks/tiny/diff", params={"from": "1.0.0", "to": "1.0.0"}, headers=stranger
    )
    assert diff.status_code == 404
