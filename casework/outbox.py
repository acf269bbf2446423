"""Writing outbox rows: every side effect leaves only if the transaction that caused it commits."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from casework import bulk
from casework.context import Context
from casework.models import OutboxMessage


def message(ctx: Context, topic: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """One outbox row; its ``message_id`` is what receivers deduplicate on."""
    return {
        "tenant_id": ctx.tenant,
        "message_id": f"msg_{uuid.uuid4().hex}",
        "topic": topic,
        "payload": payload,
        "created_at": ctx.now,
        "relayed_at": None,
    }


def write(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        bulk.insert_rows(session, OutboxMessage, rows)


def pending(session: Session, tenant: str, limit: int = 100) -> list[OutboxMessage]:
    """Messages not yet relayed, oldest first (the relay and tests read them)."""
    query = (
        sa.select(OutboxMessage)
        .where(OutboxMessage.tenant_id == tenant, OutboxMessage.relayed_at.is_(None))
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    return list(session.execute(query).scalars())
