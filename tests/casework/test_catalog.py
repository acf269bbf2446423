"""Rulepack versions (immutable, publish, roll back) and managed lists with history."""

from __future__ import annotations

import datetime as dt

import pytest
from casework_factories import T0
from sqlalchemy.engine import Engine

from casework import audit, lists, outbox, rulepacks
from casework.context import Actor, Context
from casework.db import transaction
from casework.errors import Conflict, InvalidInput, NotFound

ANALYST = Actor("user", "7")
SOURCE_1 = 'pack cards version "1"\nrule big: amount > 100 -> review\n'
SOURCE_2 = 'pack cards version "2"\nrule big: amount > 200 -> review\n'


def ctx(tenant: str, minutes: int = 0) -> Context:
    return Context(tenant, ANALYST, now=T0 + dt.timedelta(minutes=minutes))


def test_versions_are_immutable_and_checksummed(engine: Engine, tenant: str) -> None:
    with transaction(engine) as s:
        v1 = rulepacks.upload(s, ctx(tenant), "cards", "1", SOURCE_1)
    assert v1.checksum == rulepacks.checksum(SOURCE_1) and v1.author == "user:7" and v1.created_at == T0
    with (
        pytest.raises(Conflict, match="cards version 1 already exists; versions are immutable"),
        transaction(engine) as s,
    ):
        rulepacks.upload(s, ctx(tenant), "cards", "1", SOURCE_2)
    with transaction(engine) as s:
        assert rulepacks.get_version(s, tenant, "cards", "1").source == SOURCE_1
    with pytest.raises(InvalidInput, match="cannot be empty"), transaction(engine) as s:
        rulepacks.upload(s, ctx(tenant), "cards", "9", "  ")


def test_publish_and_roll_back(engine: Engine, tenant: str) -> None:
    with transaction(engine) as s:
        rulepacks.upload(s, ctx(tenant), "cards", "1", SOURCE_1)
        rulepacks.upload(s, ctx(tenant), "cards", "2", SOURCE_2)
        rulepacks.upload(s, ctx(tenant), "cards", "3", SOURCE_2 + "# three\n")
    with pytest.raises(InvalidInput, match="never been published"), transaction(engine) as s:
        rulepacks.rollback(s, ctx(tenant), "cards")
    with transaction(engine) as s:
        assert rulepacks.publish(s, ctx(tenant, 1), "cards", "1").version == "1"
        assert rulepacks.publish(s, ctx(tenant, 2), "cards", "2").version == "2"
        assert rulepacks.active_versions(s, tenant)["cards"].source == SOURCE_2
        back = rulepacks.rollback(s, ctx(tenant, 3), "cards")
        assert (back.version, back.published_at) == ("1", T0 + dt.timedelta(minutes=3))
        assert rulepacks.active_versions(s, tenant)["cards"].version == "1"
        # rolling back again returns to the one active before: 2
        assert rulepacks.rollback(s, ctx(tenant, 4), "cards").version == "2"
    with (
        pytest.raises(InvalidInput, match="version 3 was never published; publish it instead"),
        transaction(engine) as s,
    ):
        rulepacks.rollback(s, ctx(tenant), "cards", "3")
    with pytest.raises(InvalidInput, match="version 2 is already active"), transaction(engine) as s:
        rulepacks.publish(s, ctx(tenant), "cards", "2")
    with pytest.raises(NotFound, match="cards version 8 not found"), transaction(engine) as s:
        rulepacks.publish(s, ctx(tenant), "cards", "8")
    with transaction(engine) as s:
        actions = [e["action"] for e in audit.entries(s, tenant)]
        assert (
            actions[1:]
            == ["rulepack.uploaded"] * 3 + ["rulepack.published"] * 2 + ["rulepack.rolled_back"] * 2
        )
        assert [m.payload["version"] for m in outbox.pending(s, tenant)] == ["1", "2", "1", "2"]
        assert [v.version for v in rulepacks.list_versions(s, tenant, "cards")] == ["1", "2", "3"]


def test_packs_are_per_tenant(engine: Engine, tenant: str) -> None:
    from casework.tenants import create_tenant

    with transaction(engine) as s:
        create_tenant(s, Context("globex"), "Globex")
        rulepacks.upload(s, ctx(tenant), "cards", "1", SOURCE_1)
    with pytest.raises(NotFound), transaction(engine) as s:
        rulepacks.publish(s, ctx("globex"), "cards", "1")


def test_lists_with_history(engine: Engine, tenant: str) -> None:
    with transaction(engine) as s:
        lists.create_list(s, ctx(tenant), "blocked_ips", "known bad")
        assert lists.add_items(s, ctx(tenant, 1), "blocked_ips", ["10.0.0.1", "10.0.0.2", "10.0.0.1"]) == [
            "10.0.0.1",
            "10.0.0.2",
        ]
        assert lists.add_items(s, ctx(tenant, 2), "blocked_ips", ["10.0.0.2", "10.0.0.3"]) == ["10.0.0.3"]
        assert lists.remove_items(s, ctx(tenant, 3), "blocked_ips", ["10.0.0.1", "10.9.9.9"]) == ["10.0.0.1"]
        assert lists.items(s, tenant, "blocked_ips") == ["10.0.0.2", "10.0.0.3"]
        changes = [(c.value, c.op, c.at) for c in lists.history(s, tenant, "blocked_ips")]
        assert changes == [
            ("10.0.0.1", "add", T0 + dt.timedelta(minutes=1)),
            ("10.0.0.2", "add", T0 + dt.timedelta(minutes=1)),
            ("10.0.0.3", "add", T0 + dt.timedelta(minutes=2)),
            ("10.0.0.1", "remove", T0 + dt.timedelta(minutes=3)),
        ]
    with pytest.raises(Conflict, match="list 'blocked_ips' already exists"), transaction(engine) as s:
        lists.create_list(s, ctx(tenant), "blocked_ips")
    with pytest.raises(NotFound, match="list 'nope' not found"), transaction(engine) as s:
        lists.add_items(s, ctx(tenant), "nope", ["x"])
    with transaction(engine) as s:
        assert [e["action"] for e in audit.entries(s, tenant)][-3:] == [
            "list.items_added",
            "list.items_added",
            "list.items_removed",
        ]
