"""The outbox relay: committed outbox rows become deliveries, in one transaction.

The relay reads rows not yet relayed, creates one delivery per (message, subscribed
enabled endpoint) and stamps the rows ``relayed_at``, all in one transaction: a row
whose own transaction rolled back never existed, a row still uncommitted is invisible
(so a side effect leaves only if its transaction committed), and a crash between the
two steps leaves nothing half done. On PostgreSQL rows are claimed with ``FOR UPDATE
SKIP LOCKED`` so any number of relays share the work; on SQLite the write lock that
every transaction takes up front makes one relay run at a time.

Jobs are enqueued after the commit, by the caller; a job lost on the way (Redis down)
is found again by the sweep of due deliveries (``delivery.due``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from casework import integrations_delivery, webhooks
from casework.context import utcnow
from casework.db import is_postgres, transaction
from casework.delivery import PENDING
from casework.models import OutboxMessage, WebhookDelivery, WebhookEndpoint
from casework.sql import upsert_insert

#: outbox topics the relay handles: webhook event types, and ``notify`` for the integrations
RELAYED_TOPICS: tuple[str, ...] = (*webhooks.EVENT_TYPES, "notify")


def relay(engine: Engine, *, now: dt.datetime | None = None, limit: int = 500) -> list[int]:
    """Relay up to ``limit`` committed outbox rows; returns the ids of the webhook deliveries created
    (integration deliveries for ``notify`` rows are created too; workers find them as due)."""
    with transaction(engine) as session:
        return relay_in(session, now or utcnow(), limit)


def relay_in(session: Session, now: dt.datetime, limit: int = 500) -> list[int]:
    """The relay inside the caller's transaction (see the module docstring)."""
    query = (
        sa.select(OutboxMessage)
        .where(OutboxMessage.relayed_at.is_(None), OutboxMessage.topic.in_(RELAYED_TOPICS))
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    messages = list(session.execute(query).scalars())
    if not messages:
        return []
    integrations_delivery.create_for(session, [m for m in messages if m.topic == "notify"], now)
    endpoints = _endpoints(session, {m.tenant_id for m in messages})
    rows: list[dict[str, Any]] = []
    for message in messages:
        event_type = webhooks.event_type_of(message.topic)
        if event_type is None:
            continue
        for endpoint in endpoints[message.tenant_id]:
            if webhooks.subscribed(endpoint, event_type, message.payload):
                rows.append(
                    {
                        "tenant_id": message.tenant_id,
                        "endpoint_id": endpoint.id,
                        "message_id": message.message_id,
                        "event_type": event_type,
                        "payload": message.payload,
                        "status": PENDING,
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created_at": message.created_at,
                    }
                )
    ids: list[int] = []
    if rows:
        insert = upsert_insert(session, WebhookDelivery).values(rows)
        insert = insert.on_conflict_do_nothing(index_elements=["endpoint_id", "message_id"])
        ids = list(session.execute(insert.returning(WebhookDelivery.id)).scalars())
    session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id.in_([m.id for m in messages]))
        .values(relayed_at=now)
        .execution_options(synchronize_session=False)
    )
    return sorted(ids)


def _endpoints(session: Session, tenants: set[str]) -> dict[str, list[WebhookEndpoint]]:
    query = sa.select(WebhookEndpoint).where(
        WebhookEndpoint.tenant_id.in_(tenants), WebhookEndpoint.enabled.is_(True)
    )
    found: dict[str, list[WebhookEndpoint]] = defaultdict(list)
    for endpoint in session.execute(query.order_by(WebhookEndpoint.id)).scalars():
        found[endpoint.tenant_id].append(endpoint)
    return found
