"""Trained model versions: metadata, metrics and skops bytes; one active version per model name.

Training and scoring live in ``engine``; this module only keeps what they produce.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.orm import Session

from casework import audit
from casework.context import Context
from casework.errors import Conflict, InvalidInput, NotFound
from casework.models import ModelVersion


class ModelView(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    version: str
    algorithm: str
    features: list[str]
    metrics: dict[str, Any]
    active: bool
    created_at: dt.datetime
    created_by: str
    artifact_sha256: str


def _view(row: ModelVersion) -> ModelView:
    return ModelView(
        name=row.name,
        version=row.version,
        algorithm=row.algorithm,
        features=list(row.features),
        metrics=dict(row.metrics),
        active=row.active,
        created_at=row.created_at,
        created_by=row.created_by,
        artifact_sha256=hashlib.sha256(row.artifact).hexdigest(),
    )


def save(
    session: Session,
    ctx: Context,
    name: str,
    version: str,
    algorithm: str,
    features: Sequence[str],
    metrics: Mapping[str, Any],
    artifact: bytes,
) -> ModelView:
    """Store a trained model version (inactive until ``activate``)."""
    if not name or not version:
        raise InvalidInput("a model needs a name and a version")
    if not artifact:
        raise InvalidInput("a model version needs its skops bytes")
    if _find(session, ctx.tenant, name, version) is not None:
        raise Conflict(f"model {name} version {version} already exists")
    row = ModelVersion(
        tenant_id=ctx.tenant,
        name=name,
        version=version,
        algorithm=algorithm,
        features=list(features),
        metrics=dict(metrics),
        artifact=artifact,
        active=False,
        created_at=ctx.now,
        created_by=str(ctx.actor),
    )
    session.add(row)
    session.flush()
    digest = hashlib.sha256(artifact).hexdigest()
    audit.record(
        session, ctx, "model.saved", "model", f"{name}@{version}", {"artifact_sha256": [None, digest]}
    )
    return _view(row)


def _find(session: Session, tenant: str, name: str, version: str) -> ModelVersion | None:
    query = sa.select(ModelVersion).where(
        ModelVersion.tenant_id == tenant, ModelVersion.name == name, ModelVersion.version == version
    )
    return session.execute(query).scalar_one_or_none()


def activate(session: Session, ctx: Context, name: str, version: str) -> ModelView:
    """Make ``version`` the one scored with; the previously active version is deactivated."""
    row = _find(session, ctx.tenant, name, version)
    if row is None:
        raise NotFound(f"model {name} version {version} not found")
    current = session.execute(
        sa.select(ModelVersion)
        .where(ModelVersion.tenant_id == ctx.tenant, ModelVersion.name == name, ModelVersion.active.is_(True))
        .with_for_update()
    ).scalar_one_or_none()
    if current is not None and current.id == row.id:
        return _view(row)
    if current is not None:
        current.active = False
        session.flush()
    row.active = True
    session.flush()
    before = current.version if current else None
    audit.record(session, ctx, "model.activated", "model", name, {"version": [before, version]})
    return _view(row)


def versions(session: Session, tenant: str, name: str) -> list[ModelView]:
    query = (
        sa.select(ModelVersion)
        .where(ModelVersion.tenant_id == tenant, ModelVersion.name == name)
        .order_by(ModelVersion.id)
    )
    return [_view(r) for r in session.execute(query).scalars()]


def active_artifact(session: Session, tenant: str, name: str) -> tuple[str, bytes] | None:
    """(version, skops bytes) of the active version, or None."""
    query = sa.select(ModelVersion.version, ModelVersion.artifact).where(
        ModelVersion.tenant_id == tenant, ModelVersion.name == name, ModelVersion.active.is_(True)
    )
    row = session.execute(query).first()
    return (row.version, row.artifact) if row else None
