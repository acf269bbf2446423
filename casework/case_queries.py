"""Reading cases: the queue page (filtered, ordered by SLA due, keyset-paginated) and one case in full."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.orm import Session

from casework import case_store, notes
from casework.canonical import canonical_time, parse_canonical_time
from casework.errors import InvalidInput
from casework.models import Case, CaseEvent, CaseTag, DecisionRecord, EventRecord, TimelineEntry
from casework.views import CaseDetail, CaseEventView, CasePage, CaseView, TimelineView
from casework.workflow import parse_priority, parse_status
from engine.decision import Hit

ACTIVE = ("open", "investigating", "escalated")

#: ``assignee`` value that selects cases nobody holds
UNASSIGNED = "unassigned"


class CaseFilter(msgspec.Struct, frozen=True, kw_only=True):
    """What the queue page shows. Unset fields do not filter."""

    queue: str | None = None
    statuses: Sequence[str] = ACTIVE
    #: a user id, or ``"unassigned"``
    assignee: int | str | None = None
    priority: str | None = None
    tag: str | None = None
    #: snoozed cases stay hidden until their snooze ends, unless asked for
    include_snoozed: bool = False


def list_cases(
    session: Session,
    tenant: str,
    filters: CaseFilter = CaseFilter(),  # noqa: B008 - immutable Struct
    *,
    now: dt.datetime | None = None,
    limit: int = 50,
    after: str | None = None,
) -> CasePage:
    """One page of cases, most urgent SLA first; pass ``next_cursor`` back as ``after``."""
    if not 1 <= limit <= 500:
        raise InvalidInput("limit is 1 to 500")
    query = sa.select(Case).where(Case.tenant_id == tenant)
    statuses = sorted({parse_status(s) for s in filters.statuses})
    if not statuses:
        raise InvalidInput("give at least one status")
    if statuses == sorted(ACTIVE):
        # the partial index's own predicate, as a literal: a bound parameter would keep a
        # generic (prepared) plan from proving that ix_cases_active_page applies
        query = query.where(sa.text("cases.status <> 'resolved'"))
    elif len(statuses) == 1:
        query = query.where(Case.status == statuses[0])
    else:
        query = query.where(Case.status.in_(statuses))
    if filters.queue is not None:
        query = query.where(Case.queue == filters.queue)
    if filters.assignee == UNASSIGNED:
        query = query.where(Case.assignee_id.is_(None))
    elif isinstance(filters.assignee, int):
        query = query.where(Case.assignee_id == filters.assignee)
    elif filters.assignee is not None:
        raise InvalidInput(f"assignee is a user id or {UNASSIGNED!r}")
    if filters.priority is not None:
        query = query.where(Case.priority == parse_priority(filters.priority))
    if filters.tag is not None:
        tagged = sa.select(CaseTag.case_id).where(
            CaseTag.tenant_id == tenant, CaseTag.tag == filters.tag.lower()
        )
        query = query.where(Case.id.in_(tagged))
    if not filters.include_snoozed:
        moment = now or dt.datetime.now(dt.UTC)
        query = query.where(sa.or_(Case.snoozed_until.is_(None), Case.snoozed_until <= moment))
    if after is not None:
        due, last_id = _decode_cursor(after)
        query = query.where(
            sa.tuple_(Case.sla_due_at, Case.id) > sa.tuple_(sa.literal(due, Case.sla_due_at.type), last_id)
        )
    rows = list(session.execute(query.order_by(Case.sla_due_at, Case.id).limit(limit + 1)).scalars())
    page = rows[:limit]
    tags = _tags(session, [c.id for c in page])
    items = tuple(case_store.view(session, c, tags.get(c.id, ())) for c in page)
    cursor = _encode_cursor(page[-1]) if len(rows) > limit else None
    return CasePage(items, cursor)


def _tags(session: Session, case_ids: list[int]) -> dict[int, tuple[str, ...]]:
    if not case_ids:
        return {}
    found: dict[int, list[str]] = {}
    for case_id, tag in session.execute(
        sa.select(CaseTag.case_id, CaseTag.tag).where(CaseTag.case_id.in_(case_ids)).order_by(CaseTag.tag)
    ):
        found.setdefault(case_id, []).append(tag)
    return {k: tuple(v) for k, v in found.items()}


def _encode_cursor(case: Case) -> str:
    return f"{canonical_time(case.sla_due_at)}~{case.id}"


def _decode_cursor(cursor: str) -> tuple[dt.datetime, int]:
    try:
        due, case_id = cursor.split("~")
        return parse_canonical_time(due), int(case_id)
    except ValueError:
        raise InvalidInput(f"invalid cursor {cursor!r}") from None


def get_case(session: Session, tenant: str, case_id: int) -> CaseView:
    return case_store.view(session, case_store.load(session, tenant, case_id))


def timeline(session: Session, tenant: str, case_id: int) -> list[TimelineView]:
    case_store.load(session, tenant, case_id)
    rows = session.execute(
        sa.select(TimelineEntry)
        .where(TimelineEntry.tenant_id == tenant, TimelineEntry.case_id == case_id)
        .order_by(TimelineEntry.id)
    ).scalars()
    return [TimelineView(at=r.at, actor=r.actor, action=r.action, changes=r.changes) for r in rows]


def case_detail(session: Session, tenant: str, case_id: int) -> CaseDetail:
    """The case with its events (decision, hits, explanations), timeline and current notes."""
    case = case_store.load(session, tenant, case_id)
    rows = session.execute(
        sa.select(EventRecord, DecisionRecord)
        .join(CaseEvent, CaseEvent.event_pk == EventRecord.id)
        .outerjoin(DecisionRecord, DecisionRecord.event_pk == EventRecord.id)
        .where(CaseEvent.case_id == case.id, CaseEvent.tenant_id == tenant)
        .order_by(EventRecord.occurred_at, EventRecord.id)
    ).all()
    events = tuple(_event_view(event, decision) for event, decision in rows)
    return CaseDetail(
        case=case_store.view(session, case),
        events=events,
        timeline=tuple(timeline(session, tenant, case_id)),
        notes=tuple(notes.notes(session, tenant, case_id)),
    )


def _event_view(event: EventRecord, decision: DecisionRecord | None) -> CaseEventView:
    payload: dict[str, Any] = event.payload if isinstance(event.payload, dict) else {}
    return CaseEventView(
        event_id=event.event_id,
        kind=event.kind,
        occurred_at=event.occurred_at,
        outcome=decision.outcome if decision else None,
        score=decision.score if decision else None,
        hits=msgspec.convert(decision.hits, tuple[Hit, ...]) if decision else (),
        payload=payload,
    )
