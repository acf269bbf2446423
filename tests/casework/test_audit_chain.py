"""The audit chain: appends link up, and tampering in SQL is found at the right entry."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from casework import audit
from casework.context import Actor, Context
from casework.db import transaction
from casework.errors import NotFound

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
ALICE = Actor("user", "1")


def _append(engine: Engine, tenant: str, n: int) -> None:
    with transaction(engine) as session:
        for i in range(n):
            ctx = Context(tenant, ALICE, request_id=f"req-{i}", now=T0 + dt.timedelta(seconds=i))
            audit.record(
                session, ctx, "case.noted", "case", str(i), {"note": [None, f"n{i}"], "amount": [1.5, i]}
            )


def _verify(engine: Engine, tenant: str) -> audit.VerifyResult:
    with transaction(engine) as session:
        return audit.verify(session, tenant)


def _tamper(engine: Engine, *statements: str) -> None:
    """Run raw SQL with the append-only triggers out of the way, as an attacker with DB access would."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        else:
            conn.exec_driver_sql("DROP TRIGGER audit_entries_no_update")
            conn.exec_driver_sql("DROP TRIGGER audit_entries_no_delete")
        for statement in statements:
            conn.exec_driver_sql(statement)


def test_intact_chain_verifies(engine: Engine, tenant: str) -> None:
    _append(engine, tenant, 6)
    result = _verify(engine, tenant)
    # 1 entry for the tenant's creation + 6
    assert result == audit.VerifyResult(tenant, True, 7, 7)


def test_sequence_starts_at_one_per_tenant(engine: Engine, tenant: str) -> None:
    from casework.tenants import create_tenant

    with transaction(engine) as session:
        create_tenant(session, Context("globex"), "Globex")
    _append(engine, "globex", 2)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT tenant_id, seq FROM audit_entries ORDER BY tenant_id, seq")).all()
    assert [tuple(r) for r in rows] == [("acme", 1), ("globex", 1), ("globex", 2), ("globex", 3)]
    assert _verify(engine, "globex").ok and _verify(engine, "acme").ok


def test_unknown_tenant_is_not_found(engine: Engine, tenant: str) -> None:
    with pytest.raises(NotFound, match="tenant 'nope' not found"):
        _verify(engine, "nope")


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_entries SET action = 'x' WHERE seq = 2", "DELETE FROM audit_entries WHERE seq = 2"],
)
def test_append_only_triggers_refuse_changes(engine: Engine, tenant: str, statement: str) -> None:
    _append(engine, tenant, 3)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
        conn.exec_driver_sql(statement)
    assert _verify(engine, tenant).ok


def test_edited_field_is_found(engine: Engine, tenant: str) -> None:
    _append(engine, tenant, 8)
    _tamper(engine, "UPDATE audit_entries SET actor_id = 'mallory' WHERE tenant_id = 'acme' AND seq = 5")
    result = _verify(engine, tenant)
    assert (result.ok, result.first_broken_seq) == (False, 5)
    assert "altered" in (result.problem or "")


def test_edited_changes_json_is_found(engine: Engine, tenant: str) -> None:
    _append(engine, tenant, 8)
    _tamper(engine, """UPDATE audit_entries SET changes = '{"note":[null,"forged"]}' WHERE seq = 4""")
    assert _verify(engine, tenant).first_broken_seq == 4


def test_edited_hash_is_found(engine: Engine, tenant: str) -> None:
    _append(engine, tenant, 8)
    _tamper(engine, "UPDATE audit_entries SET hash = '" + "f" * 64 + "' WHERE seq = 3")
    assert _verify(engine, tenant).first_broken_seq == 3


def test_deleted_row_is_found(engine: Engine, tenant: str) -> None:
    _append(engine, tenant, 8)
    _tamper(engine, "DELETE FROM audit_entries WHERE tenant_id = 'acme' AND seq = 6")
    result = _verify(engine, tenant)
    assert result.first_broken_seq == 6
    assert "missing" in (result.problem or "")


def test_deleted_last_row_is_found(engine: Engine, tenant: str) -> None:
    _append(engine, tenant, 8)
    _tamper(engine, "DELETE FROM audit_entries WHERE tenant_id = 'acme' AND seq = 9")
    assert _verify(engine, tenant).first_broken_seq == 9


def test_swapped_rows_are_found(engine: Engine, tenant: str) -> None:
    _append(engine, tenant, 8)
    _tamper(
        engine,
        "UPDATE audit_entries SET seq = -1 WHERE tenant_id = 'acme' AND seq = 4",
        "UPDATE audit_entries SET seq = 4 WHERE tenant_id = 'acme' AND seq = 7",
        "UPDATE audit_entries SET seq = 7 WHERE tenant_id = 'acme' AND seq = -1",
    )
    result = _verify(engine, tenant)
    assert result.first_broken_seq == 4


def test_swapped_contents_are_found(engine: Engine, tenant: str) -> None:
    """Two entries exchange everything but their sequence numbers."""
    _append(engine, tenant, 8)
    cols = "at, actor_type, actor_id, action, object_type, object_id, changes, request_id, prev_hash, hash"
    _tamper(
        engine,
        "CREATE TEMP TABLE swap AS SELECT * FROM audit_entries WHERE seq IN (3, 6)",
        f"UPDATE audit_entries SET ({cols}) = (SELECT {cols} FROM swap WHERE swap.seq = 6) WHERE seq = 3",
        f"UPDATE audit_entries SET ({cols}) = (SELECT {cols} FROM swap WHERE swap.seq = 3) WHERE seq = 6",
    )
    assert _verify(engine, tenant).first_broken_seq == 3


def test_inserted_row_in_the_middle_is_found(engine: Engine, tenant: str) -> None:
    """Renumber 5.. up by one and slip a forged entry in at 5."""
    _append(engine, tenant, 8)
    _tamper(
        engine,
        "UPDATE audit_entries SET seq = -seq WHERE seq >= 5",
        "UPDATE audit_entries SET seq = 1 - seq WHERE seq < 0",
        "INSERT INTO audit_entries (tenant_id, seq, at, actor_type, actor_id, action, object_type, object_id, changes,"
        " request_id, prev_hash, hash) SELECT tenant_id, 5, at, actor_type, actor_id, 'case.deleted', object_type,"
        " object_id, changes, request_id, hash, hash FROM audit_entries WHERE seq = 4",
        "UPDATE audit_heads SET last_seq = last_seq + 1",
    )
    assert _verify(engine, tenant).first_broken_seq == 5


def test_appended_row_with_a_valid_hash_is_found_by_the_head(engine: Engine, tenant: str) -> None:
    """An attacker who recomputes the hash still cannot move the chain head."""
    from casework.canonical import chain_hash

    _append(engine, tenant, 3)
    with engine.connect() as conn:
        last = conn.execute(sa.text("SELECT hash, at FROM audit_entries WHERE seq = 4")).one()
    at = last.at if isinstance(last.at, dt.datetime) else dt.datetime.fromisoformat(str(last.at))
    fields = {
        "tenant_id": "acme",
        "seq": 5,
        "at": at if at.tzinfo else at.replace(tzinfo=dt.UTC),
        "actor_type": "user",
        "actor_id": "1",
        "action": "case.deleted",
        "object_type": "case",
        "object_id": "9",
        "changes": {},
        "request_id": None,
    }
    forged = chain_hash(audit.hashed_fields(fields), last.hash)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO audit_entries (tenant_id, seq, at, actor_type, actor_id, action, object_type, object_id,"
                " changes, request_id, prev_hash, hash) VALUES ('acme', 5, :at, 'user', '1', 'case.deleted', 'case',"
                " '9', '{}', NULL, :prev, :hash)"
            ),
            {"at": last.at, "prev": last.hash, "hash": forged},
        )
    result = _verify(engine, tenant)
    assert result.first_broken_seq == 5
    assert "inserted" in (result.problem or "")
