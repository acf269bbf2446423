"""Recording decisions: an event, its decision and every consequence, in one transaction.

One call writes the event and decision rows, opens or updates cases for the
``OpenCase`` effects, writes outbox rows for every side effect and appends the
audit entries (one for the decisions of the call, one per case opened or joined).
An event id recorded before returns the stored decision and writes nothing, so
clients can retry freely.

Concurrent writers cannot open two cases for one (tenant, queue, key): the insert
races on the partial unique index ``uq_cases_open_key`` and the loser attaches to
the winner's case (``ON CONFLICT DO UPDATE``). Rows are touched in a fixed order
(events by id, cases by queue and key, the audit head last) so batches that
overlap cannot deadlock.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.orm import Session

from casework import audit, bulk, outbox
from casework.audit import AuditDraft
from casework.canonical import canonical_time
from casework.context import Context
from casework.db import is_postgres
from casework.errors import InvalidInput, NotFound
from casework.models import Case, CaseEvent, DecisionRecord, EventRecord, Queue, Tenant, TimelineEntry
from casework.sla import SlaPolicy, policy_from_json, sla_due
from casework.sql import upsert_insert
from casework.workflow import (
    PRIORITY_RANK,
    SEVERITY_RANK,
    Priority,
    Severity,
    more_severe,
    more_urgent,
    parse_priority,
    parse_severity,
)
from engine.decision import Decision, Notify, OpenCase
from engine.events import BaseEvent, kind_of

_OPEN_CASES = sa.text("status <> 'resolved'")


class Recorded(msgspec.Struct, frozen=True):
    """What happened to one event: its decision (stored now or before) and the cases it joined."""

    event_id: str
    decision: Decision
    duplicate: bool = False
    case_ids: tuple[int, ...] = ()


def record_decision(session: Session, ctx: Context, event: BaseEvent, decision: Decision) -> Recorded:
    """Record one event with its decision; see the module docstring."""
    return record_decisions(session, ctx, [(event, decision)])[0]


def record_decisions(
    session: Session, ctx: Context, items: Sequence[tuple[BaseEvent, Decision]]
) -> list[Recorded]:
    """Record many events with their decisions in the caller's transaction; results in input order."""
    if session.get(Tenant, ctx.tenant) is None:
        raise NotFound(f"tenant {ctx.tenant!r} not found")
    for event, decision in items:
        if event.id != decision.event_id:
            raise InvalidInput(f"decision for event {decision.event_id!r} given with event {event.id!r}")
    first_index: dict[str, int] = {}
    for index, (event, _) in enumerate(items):
        first_index.setdefault(event.id, index)
    unique = [items[i] for i in sorted(first_index.values(), key=lambda i: items[i][0].id)]

    event_pks = _insert_events(session, ctx, [event for event, _ in unique])
    fresh = [(event, decision) for event, decision in unique if event.id in event_pks]
    stored = _stored_decisions(session, ctx.tenant, [e.id for e, _ in unique if e.id not in event_pks])

    _insert_decisions(session, ctx, fresh, event_pks)
    drafts: list[AuditDraft] = []
    messages: list[dict[str, Any]] = []
    if fresh:
        drafts.append(_decisions_entry(fresh))
    for event, decision in fresh:
        messages.extend(_decision_messages(ctx, event, decision))
    case_ids = _apply_case_effects(session, ctx, fresh, event_pks, drafts, messages)
    outbox.write(session, messages)
    audit.append(session, ctx, drafts)

    results: list[Recorded] = []
    for index, (event, decision) in enumerate(items):
        if event.id in event_pks and first_index[event.id] == index:
            results.append(Recorded(event.id, decision, False, tuple(case_ids.get(event.id, ()))))
        elif event.id in event_pks:
            # the same id twice in one batch: the first copy was recorded
            first = items[first_index[event.id]][1]
            results.append(Recorded(event.id, first, True, tuple(case_ids.get(event.id, ()))))
        else:
            previous, cases = stored[event.id]
            results.append(Recorded(event.id, previous, True, cases))
    return results


def _decisions_entry(fresh: Sequence[tuple[BaseEvent, Decision]]) -> AuditDraft:
    """The audit entry for the decisions one call recorded.

    One call is one action by one actor, so a batch gets one entry that names every
    event with its outcome and score (what a per-decision entry would have said),
    instead of a thousand entries that would double the rows a batch writes.
    """
    if len(fresh) == 1:
        event, decision = fresh[0]
        changes = {"outcome": [None, decision.outcome], "score": [None, decision.score]}
        return AuditDraft("decision.recorded", "decision", event.id, changes)
    recorded = [[event.id, decision.outcome, decision.score] for event, decision in fresh]
    first, last = fresh[0][0].id, fresh[-1][0].id
    return AuditDraft(
        "decisions.recorded", "decision_batch", f"{first}..{last}", {"decisions": [None, recorded]}
    )


def _insert_events(session: Session, ctx: Context, events: Sequence[BaseEvent]) -> dict[str, int]:
    """Insert the events not stored yet; returns ``{event_id: primary key}`` of those inserted."""
    if not events:
        return {}
    if len(events) < bulk.COPY_FROM or not is_postgres(session):
        return _insert_events_on_conflict(session, ctx, events)
    # PostgreSQL: take keys from the sequence and COPY. An id stored before (a retry),
    # or being inserted by a concurrent writer, makes the COPY fail; the savepoint lets
    # us fall back to ON CONFLICT DO NOTHING, which skips it (or waits for the other writer).
    new = list(events)
    keys = session.execute(_NEXT_EVENT_IDS, {"n": len(new)}).scalars().all()
    rows = [_event_row(ctx, event) | {"id": key} for event, key in zip(new, keys, strict=True)]
    try:
        with session.begin_nested():
            bulk.insert_rows(session, EventRecord, rows)
    except sa.exc.IntegrityError:
        return _insert_events_on_conflict(session, ctx, events)
    return {event.id: key for event, key in zip(new, keys, strict=True)}


_NEXT_EVENT_IDS = sa.text(
    "SELECT nextval(pg_get_serial_sequence('events', 'id')) FROM generate_series(1, :n)"
)


def _event_row(ctx: Context, event: BaseEvent) -> dict[str, Any]:
    return {
        "tenant_id": ctx.tenant,
        "event_id": event.id,
        "kind": kind_of(event),
        "occurred_at": event.timestamp,
        "received_at": ctx.now,
        "payload": event,
    }


def _insert_events_on_conflict(session: Session, ctx: Context, events: Sequence[BaseEvent]) -> dict[str, int]:
    stmt = (
        upsert_insert(session, EventRecord)
        .on_conflict_do_nothing(index_elements=["tenant_id", "event_id"])
        .returning(EventRecord.id, EventRecord.event_id)
    )
    rows = [_event_row(ctx, event) for event in events]
    return {row.event_id: row.id for row in session.execute(stmt, rows)}


def _insert_decisions(
    session: Session, ctx: Context, fresh: Sequence[tuple[BaseEvent, Decision]], event_pks: dict[str, int]
) -> None:
    if not fresh:
        return
    rows = [
        {
            "tenant_id": ctx.tenant,
            "event_pk": event_pks[event.id],
            "event_id": event.id,
            "outcome": d.outcome,
            "score": d.score,
            "risk_level": d.risk_level,
            "verdict": d.verdict,
            "hits": d.hits,
            "shadow_hits": d.shadow_hits,
            "effects": d.effects,
            "pack_name": d.pack.name if d.pack else None,
            "pack_version": d.pack.version if d.pack else None,
            "decided_at": ctx.now,
        }
        for event, d in fresh
    ]
    bulk.insert_rows(session, DecisionRecord, rows)


def decision_from_row(row: DecisionRecord) -> Decision:
    """The wire Decision back from its stored row (validated, so a damaged row fails loudly)."""
    pack = (
        {"name": row.pack_name, "version": row.pack_version} if row.pack_name and row.pack_version else None
    )
    fields = {
        "event_id": row.event_id,
        "outcome": row.outcome,
        "score": row.score,
        "risk_level": row.risk_level,
        "verdict": row.verdict,
        "hits": row.hits,
        "shadow_hits": row.shadow_hits,
        "effects": row.effects,
        "pack": pack,
    }
    return msgspec.convert(fields, Decision)


def _stored_decisions(
    session: Session, tenant: str, event_ids: Sequence[str]
) -> dict[str, tuple[Decision, tuple[int, ...]]]:
    """The decisions (and case ids) recorded earlier for these event ids."""
    found: dict[str, tuple[Decision, tuple[int, ...]]] = {}
    for start in range(0, len(event_ids), 1000):
        chunk = event_ids[start : start + 1000]
        keys = (
            session.execute(
                sa.select(EventRecord.id).where(
                    EventRecord.tenant_id == tenant, EventRecord.event_id.in_(chunk)
                )
            )
            .scalars()
            .all()
        )
        cases: dict[int, list[int]] = defaultdict(list)
        links = session.execute(
            sa.select(CaseEvent.event_pk, CaseEvent.case_id)
            .where(CaseEvent.event_pk.in_(keys))
            .order_by(CaseEvent.case_id)
        )
        for link in links:
            cases[link.event_pk].append(link.case_id)
        rows = session.execute(sa.select(DecisionRecord).where(DecisionRecord.event_pk.in_(keys))).scalars()
        for row in rows:
            found[row.event_id] = (decision_from_row(row), tuple(cases[row.event_pk]))
    return found


def _decision_messages(ctx: Context, event: BaseEvent, decision: Decision) -> list[dict[str, Any]]:
    messages = []
    if decision.outcome in ("block", "review"):
        topic = "decision.blocked" if decision.outcome == "block" else "decision.review"
        payload = {
            "event_id": event.id,
            "kind": kind_of(event),
            "outcome": decision.outcome,
            "score": decision.score,
            "risk_level": decision.risk_level,
            "rules": [hit.rule for hit in decision.hits],
        }
        messages.append(outbox.message(ctx, topic, payload))
    for effect in decision.effects:
        if isinstance(effect, Notify):
            payload = {"integration": effect.integration, "rule": effect.rule, "event_id": event.id}
            messages.append(outbox.message(ctx, "notify", payload))
    return messages


class _Group(msgspec.Struct):
    """The OpenCase effects of one batch that share a (queue, key)."""

    priority: Priority
    severity: Severity
    rule: str
    event_ids: list[str]


def _apply_case_effects(
    session: Session,
    ctx: Context,
    fresh: Sequence[tuple[BaseEvent, Decision]],
    event_pks: dict[str, int],
    drafts: list[AuditDraft],
    messages: list[dict[str, Any]],
) -> dict[str, list[int]]:
    groups: dict[tuple[str, str], _Group] = {}
    for event, decision in fresh:
        for effect in decision.effects:
            if not isinstance(effect, OpenCase):
                continue
            group = groups.get((effect.queue, effect.key))
            if group is None:
                groups[(effect.queue, effect.key)] = _Group(
                    effect.priority, effect.severity, effect.rule, [event.id]
                )
                continue
            group.priority = more_urgent(effect.priority, group.priority)
            group.severity = more_severe(effect.severity, group.severity)
            if event.id not in group.event_ids:
                group.event_ids.append(event.id)
    if not groups:
        return {}
    policies = _queue_policies(session, ctx.tenant, {queue for queue, _ in groups})
    case_ids: dict[str, list[int]] = defaultdict(list)
    links: list[dict[str, Any]] = []
    timeline: list[dict[str, Any]] = []
    ordered = sorted(groups.items())
    for start in range(0, len(ordered), _UPSERT_PAGE):
        page = ordered[start : start + _UPSERT_PAGE]
        returned = _upsert_cases(session, ctx, page, policies)
        for (queue, key), group in page:
            row = returned[(queue, key)]
            _record_case_change(session, ctx, row, group, policies[queue], drafts, messages, timeline)
            for event_id in group.event_ids:
                case_ids[event_id].append(row.id)
                links.append(
                    {
                        "case_id": row.id,
                        "event_pk": event_pks[event_id],
                        "tenant_id": ctx.tenant,
                        "event_id": event_id,
                        "attached_at": ctx.now,
                    }
                )
    bulk.insert_rows(session, CaseEvent, links)
    bulk.insert_rows(session, TimelineEntry, timeline)
    return case_ids


#: keys per upsert statement (SQLite allows 32,766 bound values; a row binds 11)
_UPSERT_PAGE = 500


def _queue_policies(session: Session, tenant: str, queues: set[str]) -> dict[str, SlaPolicy]:
    query = sa.select(Queue.name, Queue.sla_policy).where(Queue.tenant_id == tenant, Queue.name.in_(queues))
    stored: dict[str, Any] = {name: policy for name, policy in session.execute(query)}
    return {queue: policy_from_json(stored.get(queue)) for queue in queues}


def _upsert_cases(
    session: Session,
    ctx: Context,
    page: Sequence[tuple[tuple[str, str], _Group]],
    policies: dict[str, SlaPolicy],
) -> dict[tuple[str, str], sa.Row[Any]]:
    """Open a case per (queue, key) or count the events into the open one, in one statement.

    Rows are locked in (queue, key) order, the order every writer uses.
    """
    dues = [sla_due(ctx.now, group.severity, group.priority, policies[queue]) for (queue, _), group in page]
    if is_postgres(session):
        params = {
            "tenant": ctx.tenant,
            "now": ctx.now,
            "queues": [queue for (queue, _), _ in page],
            "keys": [key for (_, key), _ in page],
            "priorities": [group.priority for _, group in page],
            "severities": [group.severity for _, group in page],
            "rules": [group.rule for _, group in page],
            "counts": [len(group.event_ids) for _, group in page],
            "dues": dues,
        }
        return {(row.queue, row.key): row for row in session.execute(_PG_UPSERT_CASES, params)}
    values = [
        {
            "tenant_id": ctx.tenant,
            "queue": queue,
            "key": key,
            "status": "open",
            "priority": group.priority,
            "severity": group.severity,
            "rule": group.rule,
            "event_count": len(group.event_ids),
            "opened_at": ctx.now,
            "updated_at": ctx.now,
            "sla_due_at": due,
        }
        for ((queue, key), group), due in zip(page, dues, strict=True)
    ]
    stmt = upsert_insert(session, Case).values(values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["tenant_id", "queue", "key"],
        index_where=_OPEN_CASES,
        set_={
            "event_count": Case.event_count + stmt.excluded.event_count,
            "updated_at": stmt.excluded.updated_at,
        },
    ).returning(*_RETURNED)
    return {(row.queue, row.key): row for row in session.execute(stmt)}


_RETURNED = (Case.id, Case.queue, Case.key, Case.event_count, Case.priority, Case.severity, Case.sla_due_at)

# The same upsert with the rows as arrays: one statement text whatever the batch size,
# so it is parsed once per connection instead of compiled per batch.
_PG_UPSERT_CASES = sa.text("""
INSERT INTO cases (tenant_id, queue, key, status, priority, severity, rule, event_count,
                   opened_at, updated_at, sla_due_at)
SELECT :tenant, q, k, 'open', p, s, r, n, :now, :now, d
FROM unnest(CAST(:queues AS text[]), CAST(:keys AS text[]), CAST(:priorities AS text[]),
            CAST(:severities AS text[]), CAST(:rules AS text[]), CAST(:counts AS integer[]),
            CAST(:dues AS timestamptz[])) AS u(q, k, p, s, r, n, d)
ORDER BY q, k
ON CONFLICT (tenant_id, queue, key) WHERE status <> 'resolved'
DO UPDATE SET event_count = cases.event_count + excluded.event_count, updated_at = excluded.updated_at
RETURNING id, queue, key, event_count, priority, severity, sla_due_at
""").columns(*_RETURNED)


def _record_case_change(
    session: Session,
    ctx: Context,
    row: sa.Row[Any],
    group: _Group,
    policy: SlaPolicy,
    drafts: list[AuditDraft],
    messages: list[dict[str, Any]],
    timeline: list[dict[str, Any]],
) -> None:
    """Timeline, audit and outbox for a case just opened or joined; escalate it if the hit is more urgent."""
    count = len(group.event_ids)
    actor = str(ctx.actor)
    if row.event_count == count:
        opened = {"status": [None, "open"], "queue": [None, row.queue], "key": [None, row.key]}
        opened |= {"priority": [None, group.priority], "severity": [None, group.severity]}
        drafts.append(AuditDraft("case.opened", "case", str(row.id), opened))
        timeline.append(_timeline(ctx, row.id, actor, "opened", opened | {"events": [None, group.event_ids]}))
        payload = {
            "case_id": row.id,
            "queue": row.queue,
            "key": row.key,
            "priority": group.priority,
            "severity": group.severity,
        }
        messages.append(outbox.message(ctx, "case.opened", payload))
        return

    changes: dict[str, list[Any]] = {"event_count": [row.event_count - count, row.event_count]}
    escalate: dict[str, Any] = {}
    if PRIORITY_RANK[group.priority] > PRIORITY_RANK[row.priority]:
        escalate["priority"] = group.priority
    if SEVERITY_RANK[group.severity] > SEVERITY_RANK[row.severity]:
        escalate["severity"] = group.severity
    if escalate:
        # a more urgent hit tightens the case: raise priority/severity, pull the deadline in
        priority = parse_priority(escalate.get("priority", row.priority))
        severity = parse_severity(escalate.get("severity", row.severity))
        new_due = min(row.sla_due_at, sla_due(ctx.now, severity, priority, policy))
        if new_due != row.sla_due_at:
            escalate["sla_due_at"] = new_due
        session.execute(sa.update(Case).where(Case.id == row.id).values(**escalate))
        for field, value in escalate.items():
            before = getattr(row, field)
            changes[field] = (
                [canonical_time(before), canonical_time(value)] if field == "sla_due_at" else [before, value]
            )
    details = changes | {"events": [None, group.event_ids]}
    drafts.append(AuditDraft("case.events_attached", "case", str(row.id), details))
    timeline.append(_timeline(ctx, row.id, actor, "events_attached", details))
    payload = {"case_id": row.id, "change": "events_attached", "events": group.event_ids}
    messages.append(outbox.message(ctx, "case.updated", payload))


def _timeline(ctx: Context, case_id: int, actor: str, action: str, changes: dict[str, Any]) -> dict[str, Any]:
    return {
        "tenant_id": ctx.tenant,
        "case_id": case_id,
        "at": ctx.now,
        "actor": actor,
        "action": action,
        "changes": changes,
    }
