"""Events as received, the engine's decision for each, and the labels they earn."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from casework.models.base import Base, tenant_fk
from casework.types import BigId, JSONDoc, UTCDateTime


class EventRecord(Base):
    """An event as received.

    Unlike the other tables, ``events`` and ``decisions`` carry no foreign key to
    ``tenants``: they take thousands of rows per batch, a key check per row costs
    about a fifth of the insert, and the recorder checks the tenant once per call.
    """

    __tablename__ = "events"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "event_id"),
        # retention deletes by received time; rows arrive in that order, so a BRIN index
        # (a few pages, next to free to maintain) finds them
        sa.Index("ix_events_tenant_id_received_at", "tenant_id", "received_at", postgresql_using="brin"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(64))
    event_id: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(64))
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    #: the event exactly as validated (msgspec-encoded Struct)
    payload: Mapped[Any] = mapped_column(JSONDoc)


class DecisionRecord(Base):
    """One decision per event, keyed by the event's row: no index of its own to maintain.

    ``event_id`` repeats the event's id so a decision reads back without a join;
    lookups by id go through ``events``. There is no foreign key to ``events``: the
    recorder writes both in one transaction, retention deletes both, and the key's
    check would lock every event row just written (about a tenth of a batch's time).
    """

    __tablename__ = "decisions"

    #: ``events.id`` of the event decided
    event_pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    #: no foreign key to tenants: see EventRecord
    tenant_id: Mapped[str] = mapped_column(sa.String(64))
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
