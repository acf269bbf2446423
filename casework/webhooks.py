"""Webhook endpoints of a tenant: create, read, change, rotate secrets, delete; every change audited.

Secrets never enter the audit trail: a rotation is recorded as ``secret: [rotated]``.
The event types an endpoint can subscribe to are :data:`EVENT_TYPES`; outbox topics map
onto them through :func:`event_type_of` (``notify`` goes to integrations, not here).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import msgspec
import sqlalchemy as sa
from sqlalchemy.orm import Session

from casework import audit, outbox
from casework.context import Context
from casework.errors import InvalidInput, NotFound
from casework.models import WebhookEndpoint
from casework.signing_webhooks import new_secret

EVENT_TYPES: tuple[str, ...] = (
    "decision.blocked",
    "decision.review",
    "case.opened",
    "case.updated",
    "case.assigned",
    "case.resolved",
    "rulepack.published",
    "audit.exported",
    "test.ping",
)

#: sent only on demand, to the one endpoint asked for; never by subscription
TEST_PING = "test.ping"

#: outbox topics whose name differs from the webhook event type (none today: they are written
#: under the event type's name); topics absent from here and from EVENT_TYPES are not webhooks
_TOPIC_ALIASES: dict[str, str] = {}


def event_type_of(topic: str) -> str | None:
    """The webhook event type an outbox topic is delivered as, or None (``notify``: integrations)."""
    topic = _TOPIC_ALIASES.get(topic, topic)
    return topic if topic in EVENT_TYPES else None


class Endpoint(msgspec.Struct, frozen=True):
    """An endpoint as callers see it; secrets are shown only by :func:`secrets_of`."""

    id: int
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    allow_private: bool
    rotating: bool
    disabled_reason: str | None
    failing_since: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class Created(msgspec.Struct, frozen=True):
    """A new endpoint with its secret (shown once, at creation and at each rotation)."""

    endpoint: Endpoint
    secret: str


def view(row: WebhookEndpoint) -> Endpoint:
    return Endpoint(
        id=row.id,
        url=row.url,
        description=row.description,
        event_types=list(row.event_types),
        enabled=row.enabled,
        allow_private=row.allow_private,
        rotating=row.previous_secret is not None,
        disabled_reason=row.disabled_reason,
        failing_since=row.failing_since,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def check_url(url: str) -> str:
    """An absolute http(s) URL with a host and no credentials in it."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"{url!r} is not an absolute http:// or https:// URL")
    if parts.username or parts.password:
        raise InvalidInput("a webhook URL must not carry a user name or password")
    if len(url) > 2000:
        raise InvalidInput("a webhook URL is at most 2000 characters")
    return url


def check_event_types(types: Iterable[str]) -> list[str]:
    """Known types, deduplicated and sorted; an empty list subscribes to every type."""
    chosen = sorted(set(types))
    unknown = [t for t in chosen if t not in EVENT_TYPES]
    if unknown:
        raise InvalidInput(f"unknown event types {unknown}; known: {list(EVENT_TYPES)}")
    return chosen


def create_endpoint(
    session: Session,
    ctx: Context,
    url: str,
    *,
    event_types: Iterable[str] = (),
    description: str = "",
    enabled: bool = True,
    allow_private: bool = False,
) -> Created:
    """Create an endpoint with a fresh secret; the secret is returned once."""
    row = WebhookEndpoint(
        tenant_id=ctx.tenant,
        url=check_url(url),
        description=description[:500],
        event_types=check_event_types(event_types),
        enabled=enabled,
        allow_private=allow_private,
        secret=new_secret(),
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    session.add(row)
    session.flush()
    settings = _settings(row)
    audit.record(
        session,
        ctx,
        "webhook.created",
        "webhook_endpoint",
        str(row.id),
        {k: [None, v] for k, v in settings.items()},
    )
    return Created(view(row), row.secret)


def load(session: Session, tenant: str, endpoint_id: int, *, for_update: bool = False) -> WebhookEndpoint:
    """The endpoint, or NotFound (also for another tenant's endpoint)."""
    query = sa.select(WebhookEndpoint).where(
        WebhookEndpoint.tenant_id == tenant, WebhookEndpoint.id == endpoint_id
    )
    if for_update:
        query = query.with_for_update()
    row = session.execute(query).scalar_one_or_none()
    if row is None:
        raise NotFound(f"webhook endpoint {endpoint_id} not found")
    return row


def get_endpoint(session: Session, ctx: Context, endpoint_id: int) -> Endpoint:
    return view(load(session, ctx.tenant, endpoint_id))


def list_endpoints(session: Session, ctx: Context) -> list[Endpoint]:
    query = (
        sa.select(WebhookEndpoint).where(WebhookEndpoint.tenant_id == ctx.tenant).order_by(WebhookEndpoint.id)
    )
    return [view(row) for row in session.execute(query).scalars()]


def update_endpoint(session: Session, ctx: Context, endpoint_id: int, changes: Mapping[str, Any]) -> Endpoint:
    """Change any of url, event_types, description, enabled, allow_private; re-enabling clears the reason."""
    allowed = {"url", "event_types", "description", "enabled", "allow_private"}
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidInput(f"cannot change {sorted(unknown)}; changeable: {sorted(allowed)}")
    row = load(session, ctx.tenant, endpoint_id, for_update=True)
    before = _settings(row)
    if "url" in changes:
        row.url = check_url(changes["url"])
    if "event_types" in changes:
        row.event_types = check_event_types(changes["event_types"])
    if "description" in changes:
        row.description = str(changes["description"])[:500]
    if "allow_private" in changes:
        row.allow_private = bool(changes["allow_private"])
    if "enabled" in changes:
        row.enabled = bool(changes["enabled"])
        if row.enabled:
            row.disabled_reason = None
            row.failing_since = None
    diff = audit.diff(before, _settings(row))
    if diff:
        row.updated_at = ctx.now
        session.flush()
        audit.record(session, ctx, "webhook.updated", "webhook_endpoint", str(row.id), diff)
    return view(row)


def disable(session: Session, ctx: Context, row: WebhookEndpoint, reason: str) -> None:
    """Vigil turns an endpoint off (410 Gone, failing for a day); audited with the reason."""
    if not row.enabled:
        return
    row.enabled = False
    row.disabled_reason = reason[:200]
    row.updated_at = ctx.now
    session.flush()
    changes = {"enabled": [True, False], "reason": [None, row.disabled_reason]}
    audit.record(session, ctx, "webhook.disabled", "webhook_endpoint", str(row.id), changes)


def rotate_secret(session: Session, ctx: Context, endpoint_id: int) -> Created:
    """A new secret; the current one stays active beside it until :func:`end_rotation`."""
    row = load(session, ctx.tenant, endpoint_id, for_update=True)
    row.previous_secret = row.secret
    row.secret = new_secret()
    row.updated_at = ctx.now
    session.flush()
    audit.record(
        session, ctx, "webhook.secret_rotated", "webhook_endpoint", str(row.id), {"secret": [None, "rotated"]}
    )
    return Created(view(row), row.secret)


def end_rotation(session: Session, ctx: Context, endpoint_id: int) -> Endpoint:
    """Stop signing with the previous secret."""
    row = load(session, ctx.tenant, endpoint_id, for_update=True)
    if row.previous_secret is not None:
        row.previous_secret = None
        row.updated_at = ctx.now
        session.flush()
        changes = {"previous_secret": ["active", None]}
        audit.record(session, ctx, "webhook.rotation_ended", "webhook_endpoint", str(row.id), changes)
    return view(row)


def active_secrets(row: WebhookEndpoint) -> list[str]:
    """The secrets every request is signed with: the current one and, during a rotation, the previous."""
    return [row.secret] if row.previous_secret is None else [row.secret, row.previous_secret]


def delete_endpoint(session: Session, ctx: Context, endpoint_id: int) -> None:
    """Delete the endpoint with its deliveries and attempts."""
    row = load(session, ctx.tenant, endpoint_id, for_update=True)
    before = _settings(row)
    session.delete(row)
    session.flush()
    audit.record(
        session,
        ctx,
        "webhook.deleted",
        "webhook_endpoint",
        str(endpoint_id),
        {k: [v, None] for k, v in before.items()},
    )


def send_test_ping(session: Session, ctx: Context, endpoint_id: int) -> str:
    """Queue a ``test.ping`` for one endpoint (through the outbox); returns its message id."""
    row = load(session, ctx.tenant, endpoint_id)
    message = outbox.message(ctx, TEST_PING, {"endpoint_id": row.id, "sent_by": str(ctx.actor)})
    outbox.write(session, [message])
    return str(message["message_id"])


def subscribed(row: WebhookEndpoint, event_type: str, payload: Mapping[str, Any]) -> bool:
    """Whether an enabled endpoint receives a message of this type."""
    if event_type == TEST_PING:
        return payload.get("endpoint_id") == row.id
    return not row.event_types or event_type in row.event_types


def _settings(row: WebhookEndpoint) -> dict[str, Any]:
    return {
        "url": row.url,
        "event_types": list(row.event_types),
        "description": row.description,
        "enabled": row.enabled,
        "allow_private": row.allow_private,
    }
