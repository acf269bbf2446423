"""The outbox: side effects written in the same transaction as the change that causes them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from casework.models.base import Base, tenant_fk
from casework.types import BigId, JSONDoc, UTCDateTime


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        sa.Index(
            "ix_outbox_pending",
            "id",
            postgresql_where=sa.text("relayed_at IS NULL"),
            sqlite_where=sa.text("relayed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(64), tenant_fk())
    #: stable across retries: receivers deduplicate on it
    message_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    #: ``decision.blocked``, ``case.opened``, ``notify``, ...
    topic: Mapped[str] = mapped_column(sa.String(64))
    payload: Mapped[Any] = mapped_column(JSONDoc)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    relayed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
