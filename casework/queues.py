"""Queues: their SLA policy and their members (who auto-assignment chooses from)."""

from __future__ import annotations

import msgspec
import sqlalchemy as sa
from sqlalchemy.orm import Session

from casework import audit
from casework.context import Context
from casework.errors import InvalidInput, NotFound
from casework.models import Queue, QueueMember, User
from casework.sla import SlaPolicy
from casework.views import QueueView


def configure_queue(
    session: Session, ctx: Context, name: str, sla_policy: SlaPolicy | None = None
) -> QueueView:
    """Create a queue or change its SLA policy (None: the default). Affects cases opened from now on."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("a queue name is 1 to 100 characters")
    policy = msgspec.to_builtins(sla_policy) if sla_policy is not None else None
    queue = session.get(Queue, (ctx.tenant, name))
    if queue is None:
        session.add(Queue(tenant_id=ctx.tenant, name=name, sla_policy=policy, created_at=ctx.now))
        session.flush()
        audit.record(session, ctx, "queue.created", "queue", name, {"sla_policy": [None, policy]})
    elif queue.sla_policy != policy:
        audit.record(
            session, ctx, "queue.sla_changed", "queue", name, {"sla_policy": [queue.sla_policy, policy]}
        )
        queue.sla_policy = policy
    return get_queue(session, ctx.tenant, name)


def get_queue(session: Session, tenant: str, name: str) -> QueueView:
    queue = session.get(Queue, (tenant, name))
    if queue is None:
        raise NotFound(f"queue {name!r} not found")
    members = session.execute(
        sa.select(QueueMember.user_id)
        .where(QueueMember.tenant_id == tenant, QueueMember.queue == name)
        .order_by(QueueMember.user_id)
    ).scalars()
    return QueueView(name=queue.name, sla_policy=queue.sla_policy, member_ids=tuple(members))


def add_member(session: Session, ctx: Context, queue: str, user_id: int) -> QueueView:
    get_queue(session, ctx.tenant, queue)
    user = session.execute(
        sa.select(User).where(User.tenant_id == ctx.tenant, User.id == user_id)
    ).scalar_one_or_none()
    if user is None:
        raise NotFound(f"user {user_id} not found")
    if session.get(QueueMember, (ctx.tenant, queue, user_id)) is None:
        session.add(QueueMember(tenant_id=ctx.tenant, queue=queue, user_id=user_id))
        session.flush()
        audit.record(session, ctx, "queue.member_added", "queue", queue, {"member": [None, user_id]})
    return get_queue(session, ctx.tenant, queue)


def remove_member(session: Session, ctx: Context, queue: str, user_id: int) -> QueueView:
    member = session.get(QueueMember, (ctx.tenant, queue, user_id))
    if member is None:
        raise NotFound(f"user {user_id} is not a member of queue {queue!r}")
    session.delete(member)
    session.flush()
    audit.record(session, ctx, "queue.member_removed", "queue", queue, {"member": [user_id, None]})
    return get_queue(session, ctx.tenant, queue)
