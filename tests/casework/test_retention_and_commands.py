"""Retention purges and the CLI-facing functions in casework.commands."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from casework_factories import decision, open_case, payment
from sqlalchemy.engine import Engine

from casework import commands
from casework.case_actions import resolve
from casework.context import Context
from casework.db import create_engine, transaction
from casework.models import AuditEntry, Case, CaseEvent, DecisionRecord, EventRecord, Label
from casework.recording import record_decisions
from casework.tenants import set_retention

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _count(engine: Engine, model: type) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(model)).scalar_one())


def test_retention_purges_old_events_and_keeps_the_chain(engine: Engine, tenant: str) -> None:
    with transaction(engine) as s:
        set_retention(s, Context(tenant, now=T0), 30)
        old = [(payment(f"old{i}"), decision(f"old{i}", case=open_case())) for i in range(4)]
        case_id = record_decisions(s, Context(tenant, now=T0), old)[0].case_ids[0]
        recent = [(payment(f"new{i}"), decision(f"new{i}", case=open_case())) for i in range(2)]
        record_decisions(s, Context(tenant, now=T0 + dt.timedelta(days=20)), recent)
        resolve(s, Context(tenant, now=T0 + dt.timedelta(days=21)), case_id, "fraud_confirmed")
    url = engine.url.render_as_string(hide_password=False)
    reports = commands.retention_run(url, now=T0 + dt.timedelta(days=31))
    assert len(reports) == 1
    report = reports[0]
    assert (report.tenant, report.events, report.decisions, report.case_links) == (tenant, 4, 4, 4)
    assert report.cutoff == T0 + dt.timedelta(days=1)
    assert (_count(engine, EventRecord), _count(engine, DecisionRecord), _count(engine, CaseEvent)) == (
        2,
        2,
        2,
    )
    assert _count(engine, Case) == 1 and _count(engine, Label) == 6
    [result] = commands.audit_verify(url, tenant)
    assert result.ok
    with engine.connect() as conn:
        last = conn.execute(
            sa.select(AuditEntry.action, AuditEntry.changes).order_by(AuditEntry.seq.desc()).limit(1)
        ).one()
    assert last.action == "retention.purged" and last.changes["events"] == [None, 4]
    # running again finds nothing more, but still records that it ran
    again = commands.retention_run(url, now=T0 + dt.timedelta(days=31))
    assert again[0].events == 0


def test_tenant_without_retention_is_left_alone(engine: Engine, tenant: str) -> None:
    with transaction(engine) as s:
        record_decisions(s, Context(tenant, now=T0), [(payment("e1"), decision("e1"))])
    assert (
        commands.retention_run(
            engine.url.render_as_string(hide_password=False), now=T0 + dt.timedelta(days=9999)
        )
        == []
    )
    assert _count(engine, EventRecord) == 1


def test_audit_verify_command_all_tenants(engine: Engine, tenant: str) -> None:
    from casework.tenants import create_tenant

    with transaction(engine) as s:
        create_tenant(s, Context("globex"), "Globex")
    results = commands.audit_verify(engine.url.render_as_string(hide_password=False))
    assert [(r.tenant, r.ok) for r in results] == [("acme", True), ("globex", True)]


def test_export_commands(engine: Engine, tenant: str, tmp_path: Path) -> None:
    url = engine.url.render_as_string(hide_password=False)
    key_id = commands.audit_keygen(tmp_path / "k.pem", tmp_path / "k.pub")
    manifest = commands.audit_export(url, tenant, None, None, "csv", tmp_path / "out", tmp_path / "k.pem")
    assert manifest.key_id == key_id and manifest.count == 1
    assert commands.audit_verify_export(tmp_path / "out", tmp_path / "k.pub").ok


def test_db_upgrade_and_downgrade_commands(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    head = commands.db_upgrade(url)
    assert head is not None and commands.db_current(url) == head
    assert commands.db_downgrade(url, "base") is None
    engine = create_engine(url)
    try:
        assert sa.inspect(engine).get_table_names() == ["alembic_version"]
    finally:
        engine.dispose()
    assert commands.db_upgrade(url) == head


def test_database_url_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from casework.settings import DEFAULT_SQLITE_PATH, database_url

    monkeypatch.delenv("VIGIL_DATABASE_URL", raising=False)
    assert database_url() == f"sqlite:///{DEFAULT_SQLITE_PATH}"
    monkeypatch.setenv("VIGIL_DATABASE_URL", "postgresql://u@h/db")
    assert database_url() == "postgresql+psycopg://u@h/db"
    assert database_url("sqlite:///x.db") == "sqlite:///x.db"
