"""Tenants, their people (users and roles) and their API clients."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from casework.models.base import Base, tenant_fk
from casework.types import BigId, UTCDateTime


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    #: events and decisions older than this many days may be purged; NULL keeps them
    retention_days: Mapped[int | None] = mapped_column(sa.Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "username"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(64), tenant_fk())
    username: Mapped[str] = mapped_column(sa.String(200))
    display_name: Mapped[str] = mapped_column(sa.String(200), default="")
    email: Mapped[str | None] = mapped_column(sa.String(320))
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class UserRole(Base):
    __tablename__ = "user_roles"

    tenant_id: Mapped[str] = mapped_column(sa.String(64), tenant_fk())
    user_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(sa.String(32), primary_key=True)


class ApiClient(Base):
    """An integrator (or other machine) identity; the secret is stored only as a hash."""

    __tablename__ = "api_clients"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(64), tenant_fk(), index=True)
    role: Mapped[str] = mapped_column(sa.String(32))
    secret_hash: Mapped[str] = mapped_column(sa.String(255))
    description: Mapped[str] = mapped_column(sa.String(500), default="")
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
