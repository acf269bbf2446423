"""API clients, reference data and model versions: stored per tenant, every change audited."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.engine import Engine

from casework import audit, clients, model_store, reference
from casework.context import Actor, Context
from casework.db import transaction
from casework.errors import Conflict, InvalidInput, NotFound

T0 = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
ADMIN = Actor("user", "1")


def ctx(tenant: str) -> Context:
    return Context(tenant, ADMIN, now=T0)


def actions(engine: Engine, tenant: str) -> list[str]:
    with transaction(engine) as s:
        return [e["action"] for e in audit.entries(s, tenant)][1:]


def test_clients(engine: Engine, tenant: str) -> None:
    with transaction(engine) as s:
        client = clients.create_client(s, ctx(tenant), "int-1", "integrator", "argon2$hash", "shop")
        assert (client.role, client.active) == ("integrator", True)
        clients.rotate_secret(s, ctx(tenant), "int-1", "argon2$other")
        clients.set_active(s, ctx(tenant), "int-1", False)
        assert clients.get_client(s, tenant, "int-1").secret_hash == "argon2$other"
    with pytest.raises(Conflict), transaction(engine) as s:
        clients.create_client(s, ctx(tenant), "int-1", "integrator", "x")
    with pytest.raises(InvalidInput, match="unknown role 'root'"), transaction(engine) as s:
        clients.create_client(s, ctx(tenant), "int-2", "root", "x")
    assert actions(engine, tenant) == ["client.created", "client.secret_rotated", "client.disabled"]
    with transaction(engine) as s:
        entries = list(audit.entries(s, tenant))
        assert all("argon2" not in str(e["changes"]) for e in entries)


def test_reference_data(engine: Engine, tenant: str) -> None:
    with transaction(engine) as s:
        reference.put(s, ctx(tenant), "mcc", "5411", {"name": "grocery", "risk": 1})
        reference.put(s, ctx(tenant), "mcc", "7995", {"name": "gambling", "risk": 9})
        reference.put(s, ctx(tenant), "mcc", "7995", {"name": "gambling", "risk": 9})
        reference.put(s, ctx(tenant), "mcc", "5411", {"name": "grocery", "risk": 2})
        assert reference.get(s, tenant, "mcc", "5411") == {"name": "grocery", "risk": 2}
        reference.delete(s, ctx(tenant), "mcc", "7995")
        assert reference.items(s, tenant, "mcc") == {"5411": {"name": "grocery", "risk": 2}}
    with pytest.raises(NotFound, match="reference mcc/7995 not found"), transaction(engine) as s:
        reference.get(s, tenant, "mcc", "7995")
    assert actions(engine, tenant) == ["reference.set"] * 3 + ["reference.deleted"]


def test_model_versions(engine: Engine, tenant: str) -> None:
    with transaction(engine) as s:
        model_store.save(s, ctx(tenant), "fraud", "1", "gbdt", ["amount"], {"auc": 0.91}, b"skops-1")
        model_store.save(s, ctx(tenant), "fraud", "2", "gbdt", ["amount", "mcc"], {"auc": 0.93}, b"skops-2")
        assert model_store.active_artifact(s, tenant, "fraud") is None
        model_store.activate(s, ctx(tenant), "fraud", "1")
        model_store.activate(s, ctx(tenant), "fraud", "2")
        assert model_store.active_artifact(s, tenant, "fraud") == ("2", b"skops-2")
        assert [(v.version, v.active) for v in model_store.versions(s, tenant, "fraud")] == [
            ("1", False),
            ("2", True),
        ]
    with pytest.raises(Conflict), transaction(engine) as s:
        model_store.save(s, ctx(tenant), "fraud", "1", "gbdt", [], {}, b"x")
    assert actions(engine, tenant)[-2:] == ["model.activated", "model.activated"]


def test_users_and_roles(engine: Engine, tenant: str) -> None:
    from casework import tenants

    with transaction(engine) as s:
        user = tenants.create_user(s, ctx(tenant), "ann", ["investigator", "analyst"])
        assert tenants.user_roles(s, tenant, user.id) == ["analyst", "investigator"]
        tenants.set_roles(s, ctx(tenant), user.id, ["compliance"])
        tenants.set_active(s, ctx(tenant), user.id, False)
        assert tenants.get_user(s, tenant, user.id).active is False
    with pytest.raises(Conflict, match="user 'ann' already exists"), transaction(engine) as s:
        tenants.create_user(s, ctx(tenant), "ann", [])
    with pytest.raises(InvalidInput, match="unknown role wizard"), transaction(engine) as s:
        tenants.create_user(s, ctx(tenant), "bob", ["wizard"])
    with pytest.raises(Conflict, match="tenant 'acme' already exists"), transaction(engine) as s:
        tenants.create_tenant(s, ctx(tenant), "Again")
    assert actions(engine, tenant) == ["user.created", "user.roles_changed", "user.deactivated"]
    with transaction(engine) as s:
        entries = list(audit.entries(s, tenant))
        assert entries[2]["changes"] == {"roles": [["analyst", "investigator"], ["compliance"]]}


def test_api_labels_and_latest(engine: Engine, tenant: str) -> None:
    from casework import labels

    with transaction(engine) as s:
        labels.add_label(s, ctx(tenant), "e1", "legitimate")
        labels.add_label(s, Context(tenant, ADMIN, now=T0 + dt.timedelta(hours=1)), "e1", "fraud")
        labels.add_label(s, ctx(tenant), "e2", "inconclusive")
        latest = labels.latest(s, tenant, ["e1", "e2", "e3"])
    assert {k: (v.label, v.source) for k, v in latest.items()} == {
        "e1": ("fraud", "api"),
        "e2": ("inconclusive", "api"),
    }
    with pytest.raises(InvalidInput, match="unknown label 'bad'"), transaction(engine) as s:
        labels.add_label(s, ctx(tenant), "e1", "bad")
    assert actions(engine, tenant) == ["label.added"] * 3
