"""Events as received, the engine's decision for each, and the labels they earn."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from casework.models.base import Base, tenant_fk
from casework.types import BigId, JSONDoc, UTCDateTime


class EventRecord(Base):
    __tablename__ = "events"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "event_id"),
        # retention deletes by received time
        sa.Index("ix_events_tenant_id_received_at", "tenant_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(64), tenant_fk())
    event_id: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(64))
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    #: the event exactly as validated (msgspec-encoded Struct)
    payload: Mapped[Any] = mapped_column(JSONDoc)


class DecisionRecord(Base):
    __tablename__ = "decisions"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "event_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(64), tenant_fk())
    event_pk: Mapped[int] = mapped_column(BigId, sa.ForeignKey("events.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[str] = mapped_column(sa.String(200))
    outcome: Mapped[str] = mapped_column(sa.String(16))
    score: Mapped[float] = mapped_column(sa.Float)
    risk_level: Mapped[str] = mapped_column(sa.String(16))
    verdict: Mapped[str | None] = mapped_column(sa.String(16))
    hits: Mapped[Any] = mapped_column(JSONDoc)
    shadow_hits: Mapped[Any] = mapped_column(JSONDoc)
    effects: Mapped[Any] = mapped_column(JSONDoc)
    pack_name: Mapped[str | None] = mapped_column(sa.String(200))
    pack_version: Mapped[str | None] = mapped_column(sa.String(100))
    decided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Label(Base):
    """Ground truth for one event (fed to detectors and model training); appended, never edited."""

    __tablename__ = "labels"
    __table_args__ = (sa.Index("ix_labels_tenant_id_event_id", "tenant_id", "event_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(64), tenant_fk())
    event_id: Mapped[str] = mapped_column(sa.String(200))
    label: Mapped[str] = mapped_column(sa.String(32))
    #: ``case`` (a disposition) or ``api`` (sent by an integrator)
    source: Mapped[str] = mapped_column(sa.String(16))
    case_id: Mapped[int | None] = mapped_column(BigId, sa.ForeignKey("cases.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
