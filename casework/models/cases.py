"""Cases, the queues they sit in, and everything attached to a case: events, tags, notes,
assignments and the timeline."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from casework.models.base import Base, tenant_fk
from casework.types import BigId, JSONDoc, UTCDateTime

_OPEN = sa.text("status <> 'resolved'")


class Queue(Base):
    """A named work queue; its SLA policy (NULL: the default) and members for auto-assignment."""

    __tablename__ = "queues"

    tenant_id: Mapped[str] = mapped_column(sa.String(64), tenant_fk(), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    sla_policy: Mapped[Any | None] = mapped_column(JSONDoc)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class QueueMember(Base):
    __tablename__ = "queue_members"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["tenant_id", "queue"], ["queues.tenant_id", "queues.name"], ondelete="CASCADE"
        ),
    )

    tenant_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    queue: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        # The guarantee "never two open cases for one key": writers race on this index.
        sa.Index(
            "uq_cases_open_key",
            "tenant_id",
            "queue",
            "key",
            unique=True,
            postgresql_where=_OPEN,
            sqlite_where=_OPEN,
        ),
        # The queue page: filter by queue and status, earliest deadline first. The partial
        # index serves the default page (every unresolved status) in deadline order,
        # which an IN over three statuses could not without sorting the whole queue.
        sa.Index("ix_cases_queue_page", "tenant_id", "queue", "status", "sla_due_at", "id"),
        sa.Index(
            "ix_cases_active_page",
            "tenant_id",
            "queue",
            "sla_due_at",
            "id",
            postgresql_where=_OPEN,
            sqlite_where=_OPEN,
        ),
        sa.Index("ix_cases_assignee_page", "tenant_id", "assignee_id", "status", "sla_due_at", "id"),
        sa.CheckConstraint("status IN ('open', 'investigating', 'escalated', 'resolved')", name="status"),
        sa.CheckConstraint(
            "disposition IS NULL OR disposition IN ('fraud_confirmed', 'legitimate', 'inconclusive')",
            name="disposition",
        ),
        sa.CheckConstraint(
            "status <> 'resolved' OR disposition IS NOT NULL", name="resolved_has_disposition"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(64), tenant_fk())
    queue: Mapped[str] = mapped_column(sa.String(100))
    key: Mapped[str] = mapped_column(sa.String(300))
    status: Mapped[str] = mapped_column(sa.String(16))
    disposition: Mapped[str | None] = mapped_column(sa.String(32))
    priority: Mapped[str] = mapped_column(sa.String(16))
    severity: Mapped[str] = mapped_column(sa.String(16))
    #: the rule whose hit opened the case
    rule: Mapped[str] = mapped_column(sa.String(200), default="")
    assignee_id: Mapped[int | None] = mapped_column(BigId, sa.ForeignKey("users.id", ondelete="SET NULL"))
    event_count: Mapped[int] = mapped_column(sa.Integer)
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    sla_due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    snoozed_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class CaseEvent(Base):
    """An event attached to a case; goes when retention purges the event, the case stays."""

    __tablename__ = "case_events"

    case_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    event_pk: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("events.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    tenant_id: Mapped[str] = mapped_column(sa.String(64), tenant_fk())
    event_id: Mapped[str] = mapped_column(sa.String(200))
    attached_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class CaseTag(Base):
    __tablename__ = "case_tags"
    __table_args__ = (sa.Index("ix_case_tags_tenant_id_tag", "tenant_id", "tag"),)

    case_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(64), tenant_fk())


class CaseNote(Base):
    """One version of a note. Notes are append-only: an edit adds the next version."""

    __tablename__ = "case_notes"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "note_id", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(64), tenant_fk())
    case_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    note_id: Mapped[str] = mapped_column(sa.String(36))
    version: Mapped[int] = mapped_column(sa.Integer)
    body: Mapped[str] = mapped_column(sa.Text)
    author: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class CaseAssignment(Base):
    """Assignment history: who held the case from when to when."""

    __tablename__ = "case_assignments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(64), tenant_fk())
    case_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("users.id", ondelete="CASCADE"))
    assigned_by: Mapped[str] = mapped_column(sa.String(200))
    #: ``claim``, ``assign`` or ``auto``
    how: Mapped[str] = mapped_column(sa.String(16))
    assigned_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class TimelineEntry(Base):
    """Every change on a case, in order, with actor and time (the investigator's view)."""

    __tablename__ = "case_timeline"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(64), tenant_fk())
    case_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(sa.String(200))
    action: Mapped[str] = mapped_column(sa.String(64))
    changes: Mapped[Any] = mapped_column(JSONDoc)
