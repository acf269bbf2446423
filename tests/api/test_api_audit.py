"""The audit trail over HTTP: read, filter, page, verify, export and check the export offline."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from conftest import OTHER, TENANT, Api, encode, payment

from casework.audit_export import verify_export


def test_audit_list_filter_page_and_verify(api: Api) -> None:
    api.client.post("/v1/events", content=encode(payment("a-1")), headers=api.headers("integrator"))
    compliance = api.headers("compliance")
    everything = api.client.get("/v1/audit", headers=compliance).json()
    actions = [e["action"] for e in everything["items"]]
    assert actions[0] == "tenant.created"
    assert "token.issued" in actions and "decision.recorded" in actions
    assert [e["seq"] for e in everything["items"]] == list(range(1, len(actions) + 1))
    assert everything["next_after_seq"] is None

    tokens = api.client.get("/v1/audit", params={"action": "token.issued"}, headers=compliance).json()
    assert tokens["items"] and all(e["action"] == "token.issued" for e in tokens["items"])
    first = api.client.get("/v1/audit", params={"limit": 2}, headers=compliance).json()
    assert len(first["items"]) == 2 and first["next_after_seq"] == 2
    second = api.client.get("/v1/audit", params={"limit": 2, "after_seq": 2}, headers=compliance).json()
    assert second["items"][0]["seq"] == 3

    verified = api.client.get("/v1/audit/verify", headers=compliance).json()
    assert verified["ok"] is True and verified["tenant"] == TENANT
    theirs = api.client.get("/v1/audit", headers=api.headers("compliance", OTHER)).json()
    assert all(e["object_id"] != "a-1" for e in theirs["items"])
    assert api.client.get("/v1/audit", params={"limit": 0}, headers=compliance).status_code == 400


def test_export_streams_a_tar_that_verifies_offline(api: Api, tmp_path: Path) -> None:
    api.client.post("/v1/events", content=encode(payment("x-1")), headers=api.headers("integrator"))
    compliance = api.headers("compliance")
    response = api.client.get("/v1/audit/export", params={"format": "jsonl"}, headers=compliance)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-tar")
    with tarfile.open(fileobj=io.BytesIO(response.content)) as tar:
        assert sorted(tar.getnames()) == ["entries.jsonl", "manifest.json", "manifest.sig"]
        tar.extractall(tmp_path / "export", filter="data")
    key = api.client.get("/v1/audit/export-key", headers=compliance).json()
    (tmp_path / "key.pub").write_text(key["public_key_pem"])
    check = verify_export(tmp_path / "export", tmp_path / "key.pub")
    assert check.ok and check.count == int(response.headers["x-vigil-export-count"]) > 0

    csv = api.client.get("/v1/audit/export", params={"format": "csv"}, headers=compliance)
    assert csv.status_code == 200
    for params, status in [
        ({"format": "xml"}, 400),
        ({"from": "2026-01-01T00:00:00"}, 400),
        ({"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, 422),
    ]:
        bad = api.client.get("/v1/audit/export", params=params, headers=compliance)
        assert bad.status_code == status, (params, bad.text)
        assert bad.headers["content-type"].startswith("application/problem+json")
    # the exports themselves are in the trail
    exported = api.client.get("/v1/audit", params={"action": "audit.exported"}, headers=compliance).json()
    assert len(exported["items"]) == 2
