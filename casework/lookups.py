"""Reads the HTTP API needs that no other module offers: stored decisions by event id,
an API client by its id alone (the token endpoint does not know the tenant yet), the
outbox backlog for the metrics, recent events for an engine to replay, and the active
model versions engines poll."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from casework.errors import NotFound
from casework.models import ApiClient, EventRecord, ModelVersion, OutboxMessage
from casework.recording import _stored_decisions
from engine.decision import Decision
from engine.events import Event, EventError, event_from_dict


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


def recent_events(session: Session, tenant: str, received_since: dt.datetime, limit: int) -> list[Event]:
    """The tenant's events received since a time (at most ``limit``, the latest), in event-time
    order: what an engine replays to rebuild its detector state. Undecodable payloads are skipped."""
    query = (
        sa.select(EventRecord.payload)
        .where(EventRecord.tenant_id == tenant, EventRecord.received_at >= received_since)
        .order_by(EventRecord.received_at.desc(), EventRecord.id.desc())
        .limit(limit)
    )
    events: list[Event] = []
    for payload in session.execute(query).scalars():
        try:
            events.append(event_from_dict(payload))
        except (EventError, TypeError):
            continue
    events.sort(key=lambda e: e.timestamp)
    return events


def active_model_versions(session: Session, tenant: str) -> dict[str, str]:
    """``{model name: active version}`` of a tenant, without the artifacts (for engines to poll)."""
    query = sa.select(ModelVersion.name, ModelVersion.version).where(
        ModelVersion.tenant_id == tenant, ModelVersion.active.is_(True)
    )
    return {name: version for name, version in session.execute(query)}
