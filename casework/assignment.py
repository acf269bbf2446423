"""Who works a case: claim, assign, unassign, and auto-assign to the least-loaded queue member.

Load is the number of unresolved cases a person holds in the tenant; ties go to the
person with the lower user id, so the choice is deterministic.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from casework import case_store
from casework.context import Context
from casework.errors import Conflict, InvalidInput, NotFound
from casework.models import Case, CaseAssignment, QueueMember, User
from casework.views import CaseView
from casework.workflow import parse_status, require_active


def _active_user(session: Session, tenant: str, user_id: int) -> User:
    user = session.execute(
        sa.select(User).where(User.tenant_id == tenant, User.id == user_id)
    ).scalar_one_or_none()
    if user is None:
        raise NotFound(f"user {user_id} not found")
    if not user.active:
        raise InvalidInput(f"user {user_id} ({user.username}) is deactivated and cannot hold cases")
    return user


def _hand_over(session: Session, ctx: Context, case: Case, user_id: int | None, how: str) -> None:
    """Close the open assignment row, open the new one, and record the change on the case."""
    session.execute(
        sa.update(CaseAssignment)
        .where(CaseAssignment.case_id == case.id, CaseAssignment.ended_at.is_(None))
        .values(ended_at=ctx.now)
    )
    if user_id is not None:
        session.add(
            CaseAssignment(
                tenant_id=ctx.tenant,
                case_id=case.id,
                user_id=user_id,
                assigned_by=str(ctx.actor),
                how=how,
                assigned_at=ctx.now,
            )
        )
    fields: dict[str, object] = {"assignee_id": user_id}
    if user_id is not None and case.status == "open":
        # whoever takes an open case is now investigating it
        fields["status"] = "investigating"
    action = {"claim": "claimed", "assign": "assigned", "auto": "auto_assigned", "unassign": "unassigned"}[
        how
    ]
    topic = "case.updated" if user_id is None else "case.assigned"
    case_store.apply(session, ctx, case, action, fields, topic=topic)


def claim(session: Session, ctx: Context, case_id: int) -> CaseView:
    """The acting person takes the case; refused if someone else holds it."""
    if ctx.actor.type != "user" or not ctx.actor.id.isdigit():
        raise InvalidInput("only a person (a user actor) can claim a case")
    user_id = int(ctx.actor.id)
    _active_user(session, ctx.tenant, user_id)
    case = case_store.load(session, ctx.tenant, case_id, for_update=True)
    require_active(parse_status(case.status), "claim")
    if case.assignee_id == user_id:
        return case_store.view(session, case)
    if case.assignee_id is not None:
        raise Conflict(
            f"case {case_id} is already assigned to user {case.assignee_id}; it must be unassigned first"
        )
    _hand_over(session, ctx, case, user_id, "claim")
    return case_store.view(session, case)


def assign(session: Session, ctx: Context, case_id: int, user_id: int) -> CaseView:
    """Give the case to ``user_id`` (replacing any current assignee)."""
    _active_user(session, ctx.tenant, user_id)
    case = case_store.load(session, ctx.tenant, case_id, for_update=True)
    require_active(parse_status(case.status), "assign")
    if case.assignee_id != user_id:
        _hand_over(session, ctx, case, user_id, "assign")
    return case_store.view(session, case)


def unassign(session: Session, ctx: Context, case_id: int) -> CaseView:
    case = case_store.load(session, ctx.tenant, case_id, for_update=True)
    if case.assignee_id is None:
        raise InvalidInput(f"case {case_id} is not assigned")
    _hand_over(session, ctx, case, None, "unassign")
    return case_store.view(session, case)


def auto_assign(session: Session, ctx: Context, case_id: int) -> CaseView:
    """Assign to the active member of the case's queue who holds the fewest unresolved cases."""
    case = case_store.load(session, ctx.tenant, case_id, for_update=True)
    require_active(parse_status(case.status), "assign")
    load = (
        sa.select(sa.func.count(Case.id))
        .where(Case.tenant_id == ctx.tenant, Case.assignee_id == User.id, Case.status != "resolved")
        .scalar_subquery()
    )
    query = (
        sa.select(User.id, load.label("load"))
        .join(QueueMember, QueueMember.user_id == User.id)
        .where(QueueMember.tenant_id == ctx.tenant, QueueMember.queue == case.queue, User.active.is_(True))
        .order_by(load, User.id)
        .limit(1)
    )
    chosen = session.execute(query).first()
    if chosen is None:
        raise InvalidInput(f"queue {case.queue!r} has no active members to assign case {case_id} to")
    if case.assignee_id != chosen.id:
        _hand_over(session, ctx, case, chosen.id, "auto")
    return case_store.view(session, case)
