"""Recording decisions: rows, cases, outbox and audit in one transaction; idempotent retries."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from casework_factories import T0, decision, open_case, payment
from sqlalchemy.engine import Engine

from casework import audit, outbox
from casework.context import Actor, Context
from casework.db import transaction
from casework.errors import InvalidInput, NotFound
from casework.models import (
    AuditEntry,
    Case,
    CaseEvent,
    DecisionRecord,
    EventRecord,
    OutboxMessage,
    TimelineEntry,
)
from casework.recording import Recorded, record_decision, record_decisions

CLIENT = Actor("client", "integrator-1")


def ctx(tenant: str, minutes: int = 0) -> Context:
    return Context(tenant, CLIENT, request_id="req-1", now=T0 + dt.timedelta(minutes=minutes))


def count(engine: Engine, model: type) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(model)).scalar_one())


def test_records_event_decision_audit_and_outbox(engine: Engine, tenant: str) -> None:
    d = decision("e1", "block", notify="slack-fraud")
    with transaction(engine) as session:
        result = record_decision(session, ctx(tenant), payment("e1"), d)
    assert result == Recorded("e1", d, duplicate=False, case_ids=())
    with transaction(engine) as session:
        event = session.execute(sa.select(EventRecord)).scalar_one()
        assert (event.event_id, event.kind, event.occurred_at, event.received_at) == ("e1", "payment", T0, T0)
        assert event.payload["card_id"] == "card-1"
        row = session.execute(sa.select(DecisionRecord)).scalar_one()
        assert row.hits[0]["rule"] == "big_amount"
        topics = sorted(m.topic for m in outbox.pending(session, tenant))
        assert topics == ["decision.blocked", "notify"]
        entry = session.execute(sa.select(AuditEntry).where(AuditEntry.seq == 2)).scalar_one()
        assert (entry.action, entry.object_id, entry.actor_type, entry.actor_id) == (
            "decision.recorded",
            "e1",
            "client",
            "integrator-1",
        )
        assert entry.changes == {"outcome": [None, "block"], "score": [None, 62.5]}
        assert audit.verify(session, tenant).ok


def test_stored_decision_reads_back_equal(engine: Engine, tenant: str) -> None:
    d = decision("e1", "review", case=open_case(), notify="email")
    with transaction(engine) as session:
        record_decision(session, ctx(tenant), payment("e1"), d)
    with transaction(engine) as session:
        again = record_decision(session, ctx(tenant, 5), payment("e1"), decision("e1", "approve"))
    assert again.duplicate is True
    assert again.decision == d
    assert len(again.case_ids) == 1


def test_retry_writes_nothing(engine: Engine, tenant: str) -> None:
    with transaction(engine) as session:
        record_decision(session, ctx(tenant), payment("e1"), decision("e1", "block", case=open_case()))
    tables = (EventRecord, DecisionRecord, Case, CaseEvent, OutboxMessage, AuditEntry, TimelineEntry)
    before = {m.__tablename__: count(engine, m) for m in tables}
    with transaction(engine) as session:
        record_decision(session, ctx(tenant, 1), payment("e1"), decision("e1", "block", case=open_case()))
    assert {m.__tablename__: count(engine, m) for m in tables} == before


def test_opens_a_case_then_attaches_to_it(engine: Engine, tenant: str) -> None:
    with transaction(engine) as session:
        first = record_decision(session, ctx(tenant), payment("e1"), decision("e1", case=open_case()))
    with transaction(engine) as session:
        second = record_decision(session, ctx(tenant, 3), payment("e2"), decision("e2", case=open_case()))
        third = record_decision(
            session, ctx(tenant, 4), payment("e3", card="card-2"), decision("e3", case=open_case("card-2"))
        )
    assert first.case_ids == second.case_ids
    assert third.case_ids != first.case_ids
    with transaction(engine) as session:
        case = session.get(Case, first.case_ids[0])
        assert case is not None
        assert (case.status, case.event_count, case.queue, case.key, case.opened_at) == (
            "open",
            2,
            "cards",
            "card-1",
            T0,
        )
        # default policy: medium severity, normal priority -> 24 h
        assert case.sla_due_at == T0 + dt.timedelta(hours=24)
        actions = session.execute(
            sa.select(TimelineEntry.action).where(TimelineEntry.case_id == case.id).order_by(TimelineEntry.id)
        ).scalars()
        assert list(actions) == ["opened", "events_attached"]
        topics = [m.topic for m in outbox.pending(session, tenant)]
        assert topics.count("case.opened") == 2 and topics.count("case.updated") == 1


def test_more_urgent_hit_raises_priority_and_pulls_the_deadline_in(engine: Engine, tenant: str) -> None:
    with transaction(engine) as session:
        first = record_decision(session, ctx(tenant), payment("e1"), decision("e1", case=open_case()))
        record_decision(
            session,
            ctx(tenant, 10),
            payment("e2"),
            decision("e2", case=open_case(priority="urgent", severity="critical")),
        )
    with transaction(engine) as session:
        case = session.get(Case, first.case_ids[0])
        assert case is not None
        assert (case.priority, case.severity) == ("urgent", "critical")
        assert case.sla_due_at == T0 + dt.timedelta(minutes=10 + 15)


def test_resolved_case_does_not_take_new_events(engine: Engine, tenant: str) -> None:
    with transaction(engine) as session:
        first = record_decision(session, ctx(tenant), payment("e1"), decision("e1", case=open_case()))
        session.execute(sa.update(Case).values(status="resolved", disposition="legitimate"))
    with transaction(engine) as session:
        second = record_decision(session, ctx(tenant, 1), payment("e2"), decision("e2", case=open_case()))
    assert second.case_ids != first.case_ids
    assert count(engine, Case) == 2


def test_batch_records_in_order_with_duplicates(engine: Engine, tenant: str) -> None:
    with transaction(engine) as session:
        record_decision(session, ctx(tenant), payment("old"), decision("old", "block"))
    items = [
        (payment(f"b{i}", card=f"card-{i % 3}"), decision(f"b{i}", case=open_case(f"card-{i % 3}")))
        for i in range(30)
    ]
    items.insert(5, (payment("old"), decision("old", "approve")))
    items.append((payment("b7"), decision("b7", "approve")))
    with transaction(engine) as session:
        results = record_decisions(session, ctx(tenant, 1), items)
    assert [r.event_id for r in results] == [e.id for e, _ in items]
    assert results[5].duplicate and results[5].decision.outcome == "block"
    assert results[-1].duplicate and results[-1].decision.outcome == "review"
    assert sum(not r.duplicate for r in results) == 30
    assert count(engine, Case) == 3
    with engine.connect() as conn:
        counts = conn.execute(sa.select(Case.event_count).order_by(Case.key)).scalars().all()
    assert counts == [10, 10, 10]
    assert count(engine, CaseEvent) == 30
    with transaction(engine) as session:
        assert audit.verify(session, tenant).ok


def test_batch_is_one_transaction(engine: Engine, tenant: str) -> None:
    items = [(payment(f"b{i}"), decision(f"b{i}")) for i in range(5)]
    items.append((payment("bad"), decision("other")))
    with (
        pytest.raises(InvalidInput, match="decision for event 'other' given with event 'bad'"),
        transaction(engine) as session,
    ):
        record_decisions(session, ctx(tenant), items)
    assert count(engine, EventRecord) == 0


def test_failure_midway_leaves_nothing(engine: Engine, tenant: str) -> None:
    with pytest.raises(RuntimeError), transaction(engine) as session:
        record_decisions(session, ctx(tenant), [(payment("x1"), decision("x1", case=open_case()))])
        raise RuntimeError("the caller fails before commit")
    assert (count(engine, EventRecord), count(engine, Case), count(engine, AuditEntry)) == (0, 0, 1)


def test_unknown_tenant(engine: Engine, tenant: str) -> None:
    with pytest.raises(NotFound, match="tenant 'ghost' not found"), transaction(engine) as session:
        record_decision(session, ctx("ghost"), payment("e1"), decision("e1"))


def test_tenants_are_separate(engine: Engine, tenant: str) -> None:
    from casework.tenants import create_tenant

    with transaction(engine) as session:
        create_tenant(session, Context("globex"), "Globex")
    with transaction(engine) as session:
        a = record_decision(session, ctx(tenant), payment("e1"), decision("e1", "block", case=open_case()))
        b = record_decision(
            session, ctx("globex"), payment("e1"), decision("e1", "approve", case=open_case())
        )
    assert not a.duplicate and not b.duplicate
    assert a.case_ids != b.case_ids


def test_bulk_path_keeps_awkward_text_exact(engine: Engine, tenant: str) -> None:
    """Batches large enough for COPY on PostgreSQL round-trip tabs, newlines, backslashes, quotes, emoji."""
    awkward = 'tab\there\nnew line \\ backslash "quoted" é 🚩 \\N'
    items = []
    for i in range(25):
        event = payment(f"w{i}").__class__(
            id=f"w{i}\t{awkward[:5]}",
            timestamp=T0,
            amount=1.0,
            card_id=awkward,
            attributes={"note": awkward, "n": i},
        )
        d = decision(event.id, case=open_case(awkward))
        items.append((event, d))
    with transaction(engine) as session:
        record_decisions(session, ctx(tenant), items)
    with transaction(engine) as session:
        stored = {r.event_id: r for r in session.execute(sa.select(EventRecord)).scalars()}
        assert stored[items[3][0].id].payload["attributes"] == {"note": awkward, "n": 3}
        assert stored[items[3][0].id].payload["card_id"] == awkward
        case = session.execute(sa.select(Case)).scalar_one()
        assert case.key == awkward and case.event_count == 25
        again = record_decisions(session, ctx(tenant, 1), items[:2])
        assert [r.decision for r in again] == [items[0][1], items[1][1]] and all(r.duplicate for r in again)
        assert audit.verify(session, tenant).ok
