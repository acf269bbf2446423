"""Loading a case for change and applying a change: the machinery every case action shares.

``apply`` is the only place a case row changes outside recording: it writes the
fields, the timeline entry, the audit entry and the outbox message together, so no
action can forget one of them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from casework import audit, outbox
from casework.audit import AuditDraft
from casework.canonical import canonical_time
from casework.context import Context
from casework.errors import NotFound
from casework.models import Case, CaseTag, TimelineEntry
from casework.views import CaseView


def load(session: Session, tenant: str, case_id: int, *, for_update: bool = False) -> Case:
    """The case, locked for this transaction when ``for_update``; another tenant's case is not found."""
    query = sa.select(Case).where(Case.tenant_id == tenant, Case.id == case_id)
    if for_update:
        query = query.with_for_update()
    case = session.execute(query.execution_options(populate_existing=True)).scalar_one_or_none()
    if case is None:
        raise NotFound(f"case {case_id} not found")
    return case


def tags_of(session: Session, case_id: int) -> tuple[str, ...]:
    query = sa.select(CaseTag.tag).where(CaseTag.case_id == case_id).order_by(CaseTag.tag)
    return tuple(session.execute(query).scalars())


def view(session: Session, case: Case, tags: tuple[str, ...] | None = None) -> CaseView:
    return CaseView(
        id=case.id,
        queue=case.queue,
        key=case.key,
        status=case.status,
        disposition=case.disposition,
        priority=case.priority,
        severity=case.severity,
        rule=case.rule,
        assignee_id=case.assignee_id,
        event_count=case.event_count,
        opened_at=case.opened_at,
        updated_at=case.updated_at,
        sla_due_at=case.sla_due_at,
        snoozed_until=case.snoozed_until,
        resolved_at=case.resolved_at,
        tags=tags_of(session, case.id) if tags is None else tags,
    )


def _jsonable(value: Any) -> Any:
    return canonical_time(value) if isinstance(value, dt.datetime) else value


def apply(
    session: Session,
    ctx: Context,
    case: Case,
    action: str,
    fields: Mapping[str, Any],
    *,
    extra: Mapping[str, Any] | None = None,
    topic: str = "case.updated",
) -> dict[str, list[Any]]:
    """Set ``fields`` on ``case`` and record the change; returns ``{field: [before, after]}``.

    ``extra`` adds facts to the record that are not case columns (a note id, a tag).
    """
    changes: dict[str, list[Any]] = {}
    for name, value in fields.items():
        before = getattr(case, name)
        if before != value:
            changes[name] = [_jsonable(before), _jsonable(value)]
            setattr(case, name, value)
    case.updated_at = ctx.now
    recorded = changes | {k: [None, _jsonable(v)] for k, v in (extra or {}).items()}
    session.add(
        TimelineEntry(
            tenant_id=ctx.tenant,
            case_id=case.id,
            at=ctx.now,
            actor=str(ctx.actor),
            action=action,
            changes=recorded,
        )
    )
    session.flush()
    payload = {"case_id": case.id, "action": action, "status": case.status, "changes": recorded}
    outbox.write(session, [outbox.message(ctx, topic, payload)])
    audit.append(session, ctx, [AuditDraft(f"case.{action}", "case", str(case.id), recorded)])
    return recorded
