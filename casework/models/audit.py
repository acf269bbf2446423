"""The audit chain: entries (append-only) and each tenant's chain head."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from casework.models.base import Base, tenant_fk
from casework.types import JSONDoc, UTCDateTime


class AuditEntry(Base):
    __tablename__ = "audit_entries"
    __table_args__ = (
        # exports select by time; entries arrive in time order, so BRIN suffices
        sa.Index("ix_audit_entries_tenant_id_at", "tenant_id", "at", postgresql_using="brin"),
    )

    tenant_id: Mapped[str] = mapped_column(sa.String(64), tenant_fk(), primary_key=True)
    #: 1, 2, 3... per tenant with no gaps: the key is the position in the chain
    seq: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor_type: Mapped[str] = mapped_column(sa.String(16))
    actor_id: Mapped[str] = mapped_column(sa.String(200))
    action: Mapped[str] = mapped_column(sa.String(64))
    object_type: Mapped[str] = mapped_column(sa.String(64))
    object_id: Mapped[str] = mapped_column(sa.String(300))
    #: ``{field: [before, after]}``
    changes: Mapped[Any] = mapped_column(JSONDoc)
    request_id: Mapped[str | None] = mapped_column(sa.String(200))
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))


class AuditHead(Base):
    """The last sequence number and hash per tenant; appenders lock this row, which is what
    makes the sequence gap-free and the chain fork-free under concurrent writers."""

    __tablename__ = "audit_heads"

    tenant_id: Mapped[str] = mapped_column(sa.String(64), tenant_fk(), primary_key=True)
    last_seq: Mapped[int] = mapped_column(sa.BigInteger)
    last_hash: Mapped[str] = mapped_column(sa.String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
