"""Moving cases through the workflow: transitions, resolution with a disposition (which writes
labels), reopening, snoozing, priority and tags."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from casework import audit, case_store
from casework.context import Context
from casework.errors import InvalidInput
from casework.models import CaseEvent, CaseTag, Label, Queue
from casework.sla import SlaPolicy, policy_from_json, sla_due
from casework.views import CaseView
from casework.workflow import (
    DISPOSITION_LABEL,
    check_transition,
    parse_disposition,
    parse_priority,
    parse_severity,
    parse_status,
    require_active,
)


def transition(
    session: Session,
    ctx: Context,
    case_id: int,
    target: str,
    *,
    disposition: str | None = None,
    reason: str = "",
) -> CaseView:
    """Move a case to ``target`` (``investigating``, ``escalated``, ``resolved``, ``open``)."""
    to = parse_status(target)
    given = parse_disposition(disposition) if disposition is not None else None
    case = case_store.load(session, ctx.tenant, case_id, for_update=True)
    current = parse_status(case.status)
    check_transition(current, to, given)
    extra = {"reason": reason} if reason else None
    if to == "resolved":
        assert given is not None
        case_store.apply(
            session,
            ctx,
            case,
            "resolved",
            {"status": to, "disposition": given, "resolved_at": ctx.now, "snoozed_until": None},
            extra=extra,
            topic="case.resolved",
        )
        _write_labels(session, ctx, case.id, DISPOSITION_LABEL[given])
    elif current == "resolved":
        policy = _policy(session, ctx.tenant, case.queue)
        due = sla_due(ctx.now, parse_severity(case.severity), parse_priority(case.priority), policy)
        fields = {"status": to, "disposition": None, "resolved_at": None, "sla_due_at": due}
        case_store.apply(session, ctx, case, "reopened", fields, extra=extra)
    else:
        action = {"escalated": "escalated", "investigating": "investigating", "open": "returned"}[to]
        case_store.apply(session, ctx, case, action, {"status": to}, extra=extra)
    return case_store.view(session, case)


def resolve(session: Session, ctx: Context, case_id: int, disposition: str, reason: str = "") -> CaseView:
    """Resolve with a disposition; labels every event of the case with it."""
    return transition(session, ctx, case_id, "resolved", disposition=disposition, reason=reason)


def reopen(session: Session, ctx: Context, case_id: int, reason: str = "") -> CaseView:
    return transition(session, ctx, case_id, "open", reason=reason)


def _write_labels(session: Session, ctx: Context, case_id: int, label: str) -> None:
    event_ids = list(
        session.execute(
            sa.select(CaseEvent.event_id)
            .where(CaseEvent.tenant_id == ctx.tenant, CaseEvent.case_id == case_id)
            .order_by(CaseEvent.event_id)
        ).scalars()
    )
    if not event_ids:
        return
    rows = [
        {
            "tenant_id": ctx.tenant,
            "event_id": event_id,
            "label": label,
            "source": "case",
            "case_id": case_id,
            "actor": str(ctx.actor),
            "created_at": ctx.now,
        }
        for event_id in event_ids
    ]
    session.execute(sa.insert(Label), rows)
    audit.record(
        session,
        ctx,
        "labels.written",
        "case",
        str(case_id),
        {"label": [None, label], "events": [None, event_ids]},
    )


def _policy(session: Session, tenant: str, queue: str) -> SlaPolicy:
    stored = session.execute(
        sa.select(Queue.sla_policy).where(Queue.tenant_id == tenant, Queue.name == queue)
    ).scalar()
    return policy_from_json(stored)


def snooze(session: Session, ctx: Context, case_id: int, until: dt.datetime) -> CaseView:
    """Hide a case from the queue until ``until`` (it still counts toward its SLA)."""
    if until <= ctx.now:
        raise InvalidInput("a case can only be snoozed until a time in the future")
    case = case_store.load(session, ctx.tenant, case_id, for_update=True)
    require_active(parse_status(case.status), "snooze")
    case_store.apply(session, ctx, case, "snoozed", {"snoozed_until": until})
    return case_store.view(session, case)


def unsnooze(session: Session, ctx: Context, case_id: int) -> CaseView:
    case = case_store.load(session, ctx.tenant, case_id, for_update=True)
    if case.snoozed_until is None:
        raise InvalidInput(f"case {case_id} is not snoozed")
    case_store.apply(session, ctx, case, "unsnoozed", {"snoozed_until": None})
    return case_store.view(session, case)


def set_priority(session: Session, ctx: Context, case_id: int, priority: str) -> CaseView:
    """Change the priority; the SLA due time is recomputed from when the case opened."""
    new = parse_priority(priority)
    case = case_store.load(session, ctx.tenant, case_id, for_update=True)
    require_active(parse_status(case.status), "reprioritise")
    if case.priority == new:
        return case_store.view(session, case)
    due = sla_due(
        case.opened_at, parse_severity(case.severity), new, _policy(session, ctx.tenant, case.queue)
    )
    case_store.apply(session, ctx, case, "reprioritised", {"priority": new, "sla_due_at": due})
    return case_store.view(session, case)


def _clean_tags(tags: Iterable[str]) -> list[str]:
    cleaned = sorted({t.strip().lower() for t in tags})
    if not cleaned or any(not t or len(t) > 100 for t in cleaned):
        raise InvalidInput("tags are 1 to 100 characters")
    return cleaned


def add_tags(session: Session, ctx: Context, case_id: int, tags: Iterable[str]) -> CaseView:
    wanted = _clean_tags(tags)
    case = case_store.load(session, ctx.tenant, case_id, for_update=True)
    have = set(case_store.tags_of(session, case.id))
    new = [t for t in wanted if t not in have]
    if new:
        session.add_all(CaseTag(case_id=case.id, tag=t, tenant_id=ctx.tenant) for t in new)
        case_store.apply(session, ctx, case, "tagged", {}, extra={"tags_added": new})
    return case_store.view(session, case)


def remove_tags(session: Session, ctx: Context, case_id: int, tags: Iterable[str]) -> CaseView:
    unwanted = _clean_tags(tags)
    case = case_store.load(session, ctx.tenant, case_id, for_update=True)
    gone = [t for t in unwanted if t in set(case_store.tags_of(session, case.id))]
    if gone:
        session.execute(sa.delete(CaseTag).where(CaseTag.case_id == case.id, CaseTag.tag.in_(gone)))
        case_store.apply(session, ctx, case, "untagged", {}, extra={"tags_removed": gone})
    return case_store.view(session, case)
