"""Reads the HTTP API needs that no other module offers: stored decisions by event id,
an API client by its id alone (the token endpoint does not know the tenant yet), and
the outbox backlog for the metrics."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from casework.errors import NotFound
from casework.models import ApiClient, OutboxMessage
from casework.recording import _stored_decisions
from engine.decision import Decision


def stored_decisions(
    session: Session, tenant: str, event_ids: Sequence[str]
) -> dict[str, tuple[Decision, tuple[int, ...]]]:
    """The decisions (and case ids) recorded for those of ``event_ids`` seen before."""
    return _stored_decisions(session, tenant, list(event_ids))


def get_decision(session: Session, tenant: str, event_id: str) -> tuple[Decision, tuple[int, ...]]:
    found = _stored_decisions(session, tenant, [event_id]).get(event_id)
    if found is None:
        raise NotFound(f"no decision for event {event_id!r}")
    return found


def find_client(session: Session, client_id: str) -> ApiClient | None:
    """The client with this id in any tenant, or None; the caller checks its secret and tenant."""
    return session.get(ApiClient, client_id)


def outbox_backlog(session: Session) -> int:
    """Outbox messages not relayed yet, across tenants (the delivery queue's depth)."""
    query = sa.select(sa.func.count()).select_from(OutboxMessage).where(OutboxMessage.relayed_at.is_(None))
    return int(session.execute(query).scalar_one())
