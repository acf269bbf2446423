"""Webhook endpoints of a tenant, the deliveries made to them and every attempt of each."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from casework.models.base import Base, tenant_fk
from casework.types import BigId, JSONDoc, UTCDateTime


class WebhookEndpoint(Base):
    """Where a tenant wants its events POSTed, signed with one or two active secrets."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(64), tenant_fk(), index=True)
    url: Mapped[str] = mapped_column(sa.String(2000))
    description: Mapped[str] = mapped_column(sa.String(500), default="")
    #: event types this endpoint receives; an empty list means every type but ``test.ping``
    event_types: Mapped[Any] = mapped_column(JSONDoc)
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    #: let deliveries reach private, loopback and link-local addresses (off by default)
    allow_private: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    #: ``whsec_...``; signatures are made with this one and, during a rotation, the previous one
    secret: Mapped[str] = mapped_column(sa.String(100))
    previous_secret: Mapped[str | None] = mapped_column(sa.String(100))
    #: why Vigil disabled the endpoint (410 Gone, failing for a day); NULL when a person did
    disabled_reason: Mapped[str | None] = mapped_column(sa.String(200))
    #: first failure of the current run of failures; cleared by a success
    failing_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class WebhookDelivery(Base):
    """One outbox message to one endpoint; its ``message_id`` is the ``webhook-id`` of every try."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.UniqueConstraint("endpoint_id", "message_id"),
        sa.Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        sa.Index("ix_webhook_deliveries_tenant_id_created_at", "tenant_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(64), tenant_fk())
    endpoint_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    message_id: Mapped[str] = mapped_column(sa.String(64))
    event_type: Mapped[str] = mapped_column(sa.String(64))
    #: the ``data`` of the body; the body is rebuilt byte for byte from the stored fields on every try
    payload: Mapped[Any] = mapped_column(JSONDoc)
    #: ``pending``, ``sending``, ``retrying``, ``delivered`` or ``dead``
    status: Mapped[str] = mapped_column(sa.String(16))
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: while ``sending``: when the claim lapses and another worker may try (a worker died mid-send)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class WebhookAttempt(Base):
    """One HTTP try of a delivery: when, what came back, how long it took."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(64), tenant_fk())
    delivery_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    #: HTTP status, or NULL when no response came (refused destination, timeout, connection error)
    status_code: Mapped[int | None] = mapped_column(sa.Integer)
    latency_ms: Mapped[int] = mapped_column(sa.Integer)
    error: Mapped[str | None] = mapped_column(sa.String(500))
    response_excerpt: Mapped[str] = mapped_column(sa.String(1000), default="")


class Integration(Base):
    """A named notification target of a tenant (Slack, email, generic HTTP), reached from rules
    with ``notify "name"``; its Jinja2 templates are checked when it is saved."""

    __tablename__ = "integrations"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(64), tenant_fk())
    name: Mapped[str] = mapped_column(sa.String(100))
    #: ``slack``, ``email`` or ``http``
    kind: Mapped[str] = mapped_column(sa.String(16))
    #: where and how to send: URL, SMTP server and addresses, headers
    config: Mapped[Any] = mapped_column(JSONDoc)
    #: Jinja2 sources by part: ``blocks`` (Slack), ``subject``/``text``/``html`` (email), ``body`` (HTTP)
    templates: Mapped[Any] = mapped_column(JSONDoc)
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    allow_private: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class IntegrationDelivery(Base):
    """One ``notify`` outbox message to one integration, tried on the webhook schedule."""

    __tablename__ = "integration_deliveries"
    __table_args__ = (
        sa.UniqueConstraint("integration_id", "message_id"),
        sa.Index("ix_integration_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(64), tenant_fk())
    integration_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("integrations.id", ondelete="CASCADE"), index=True
    )
    message_id: Mapped[str] = mapped_column(sa.String(64))
    payload: Mapped[Any] = mapped_column(JSONDoc)
    #: ``pending``, ``sending``, ``retrying``, ``delivered`` or ``dead``
    status: Mapped[str] = mapped_column(sa.String(16))
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
