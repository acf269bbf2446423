"""What analysts manage: rulepack versions and publications, managed lists, reference data, models."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from casework.models.base import Base, tenant_fk
from casework.types import BigId, JSONDoc, UTCDateTime


class RulepackVersion(Base):
    """One uploaded version of a pack; never changed after it is written."""

    __tablename__ = "rulepack_versions"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "pack", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(64), tenant_fk())
    pack: Mapped[str] = mapped_column(sa.String(200))
    version: Mapped[str] = mapped_column(sa.String(100))
    source: Mapped[str] = mapped_column(sa.Text)
    #: SHA-256 hex of the UTF-8 source
    checksum: Mapped[str] = mapped_column(sa.String(64))
    author: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class RulepackActive(Base):
    """The version each pack runs now."""

    __tablename__ = "rulepack_active"

    tenant_id: Mapped[str] = mapped_column(sa.String(64), tenant_fk(), primary_key=True)
    pack: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    version_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("rulepack_versions.id", ondelete="RESTRICT"))
    published_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    published_by: Mapped[str] = mapped_column(sa.String(200))


class RulepackPublication(Base):
    """Every publish and rollback, in order: what rollback walks back through."""

    __tablename__ = "rulepack_publications"
    __table_args__ = (sa.Index("ix_rulepack_publications_tenant_id_pack", "tenant_id", "pack", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(64), tenant_fk())
    pack: Mapped[str] = mapped_column(sa.String(200))
    version_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("rulepack_versions.id", ondelete="RESTRICT"))
    #: ``publish`` or ``rollback``
    action: Mapped[str] = mapped_column(sa.String(16))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(sa.String(200))


class ManagedList(Base):
    __tablename__ = "managed_lists"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(64), tenant_fk())
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.String(1000), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ListItem(Base):
    """The items a list holds now."""

    __tablename__ = "list_items"

    list_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("managed_lists.id", ondelete="CASCADE"), primary_key=True
    )
    value: Mapped[str] = mapped_column(sa.String(500), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(64), tenant_fk())
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    added_by: Mapped[str] = mapped_column(sa.String(200))


class ListItemChange(Base):
    """Every add and remove, in order."""

    __tablename__ = "list_item_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(64), tenant_fk())
    list_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("managed_lists.id", ondelete="CASCADE"), index=True
    )
    value: Mapped[str] = mapped_column(sa.String(500))
    #: ``add`` or ``remove``
    op: Mapped[str] = mapped_column(sa.String(8))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(sa.String(200))


class ReferenceData(Base):
    """Keyed reference values rules can look up (merchant categories, station locations...)."""

    __tablename__ = "reference_data"

    tenant_id: Mapped[str] = mapped_column(sa.String(64), tenant_fk(), primary_key=True)
    dataset: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(500), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONDoc)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ModelVersion(Base):
    """A trained model: metadata, metrics and its skops bytes."""

    __tablename__ = "model_versions"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(64), tenant_fk())
    name: Mapped[str] = mapped_column(sa.String(200))
    version: Mapped[str] = mapped_column(sa.String(100))
    algorithm: Mapped[str] = mapped_column(sa.String(200))
    features: Mapped[Any] = mapped_column(JSONDoc)
    metrics: Mapped[Any] = mapped_column(JSONDoc)
    artifact: Mapped[bytes] = mapped_column(sa.LargeBinary)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(sa.String(200))
