"""Rulepack versions: uploaded sources kept immutable, one published version active per pack.

Publishing and rolling back only move the ``rulepack_active`` pointer and append to
``rulepack_publications``; a version's source and checksum never change. Engines
poll ``active_versions`` (or get ``rulepack.published`` from the outbox) to reload.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import msgspec
import sqlalchemy as sa
from sqlalchemy.orm import Session

from casework import audit, outbox
from casework.context import Context
from casework.errors import Conflict, InvalidInput, NotFound
from casework.models import RulepackActive, RulepackPublication, RulepackVersion


class PackVersionView(msgspec.Struct, frozen=True, kw_only=True):
    pack: str
    version: str
    checksum: str
    author: str
    created_at: dt.datetime
    source: str | None = None


class ActivePack(msgspec.Struct, frozen=True, kw_only=True):
    pack: str
    version: str
    checksum: str
    published_at: dt.datetime
    published_by: str


def checksum(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()


def _view(row: RulepackVersion, with_source: bool = False) -> PackVersionView:
    return PackVersionView(
        pack=row.pack,
        version=row.version,
        checksum=row.checksum,
        author=row.author,
        created_at=row.created_at,
        source=row.source if with_source else None,
    )


def upload(session: Session, ctx: Context, pack: str, version: str, source: str) -> PackVersionView:
    """Store a new version. A version that exists is never overwritten, even with the same text."""
    if not pack or not version or len(pack) > 200 or len(version) > 100:
        raise InvalidInput("a pack name is 1 to 200 characters and a version 1 to 100")
    if not source.strip():
        raise InvalidInput("a rulepack source cannot be empty")
    if _find(session, ctx.tenant, pack, version) is not None:
        raise Conflict(
            f"rulepack {pack} version {version} already exists; versions are immutable, upload a new one"
        )
    row = RulepackVersion(
        tenant_id=ctx.tenant,
        pack=pack,
        version=version,
        source=source,
        checksum=checksum(source),
        author=str(ctx.actor),
        created_at=ctx.now,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        ctx,
        "rulepack.uploaded",
        "rulepack",
        f"{pack}@{version}",
        {"checksum": [None, row.checksum], "bytes": [None, len(source.encode())]},
    )
    return _view(row)


def _find(session: Session, tenant: str, pack: str, version: str) -> RulepackVersion | None:
    query = sa.select(RulepackVersion).where(
        RulepackVersion.tenant_id == tenant, RulepackVersion.pack == pack, RulepackVersion.version == version
    )
    return session.execute(query).scalar_one_or_none()


def get_version(session: Session, tenant: str, pack: str, version: str) -> PackVersionView:
    row = _find(session, tenant, pack, version)
    if row is None:
        raise NotFound(f"rulepack {pack} version {version} not found")
    return _view(row, with_source=True)


def list_versions(session: Session, tenant: str, pack: str) -> list[PackVersionView]:
    rows = session.execute(
        sa.select(RulepackVersion)
        .where(RulepackVersion.tenant_id == tenant, RulepackVersion.pack == pack)
        .order_by(RulepackVersion.id)
    ).scalars()
    return [_view(r) for r in rows]


def publish(session: Session, ctx: Context, pack: str, version: str) -> ActivePack:
    """Make ``version`` the active one for ``pack``."""
    row = _find(session, ctx.tenant, pack, version)
    if row is None:
        raise NotFound(f"rulepack {pack} version {version} not found")
    return _activate(session, ctx, row, "publish")


def rollback(session: Session, ctx: Context, pack: str, to_version: str | None = None) -> ActivePack:
    """Go back to ``to_version``, or to the version that was active before the current one."""
    current = _active_row(session, ctx.tenant, pack)
    if current is None:
        raise InvalidInput(f"rulepack {pack} has never been published; there is nothing to roll back")
    if to_version is not None:
        target = _find(session, ctx.tenant, pack, to_version)
        if target is None:
            raise NotFound(f"rulepack {pack} version {to_version} not found")
        if not _was_published(session, ctx.tenant, pack, target.id):
            raise InvalidInput(
                f"rulepack {pack} version {to_version} was never published; publish it instead"
            )
    else:
        target = _previous(session, ctx.tenant, pack, current.version_id)
        if target is None:
            raise InvalidInput(f"rulepack {pack} has no earlier published version to roll back to")
    if target.id == current.version_id:
        raise InvalidInput(f"rulepack {pack} version {target.version} is already active")
    return _activate(session, ctx, target, "rollback")


def _was_published(session: Session, tenant: str, pack: str, version_id: int) -> bool:
    query = sa.select(RulepackPublication.id).where(
        RulepackPublication.tenant_id == tenant,
        RulepackPublication.pack == pack,
        RulepackPublication.version_id == version_id,
    )
    return session.execute(query.limit(1)).first() is not None


def _previous(session: Session, tenant: str, pack: str, current_id: int) -> RulepackVersion | None:
    """The most recently published version other than the current one."""
    query = (
        sa.select(RulepackPublication.version_id)
        .where(
            RulepackPublication.tenant_id == tenant,
            RulepackPublication.pack == pack,
            RulepackPublication.version_id != current_id,
        )
        .order_by(RulepackPublication.id.desc())
        .limit(1)
    )
    version_id = session.execute(query).scalar()
    return session.get(RulepackVersion, version_id) if version_id is not None else None


def _active_row(session: Session, tenant: str, pack: str) -> RulepackActive | None:
    query = sa.select(RulepackActive).where(RulepackActive.tenant_id == tenant, RulepackActive.pack == pack)
    return session.execute(query.with_for_update()).scalar_one_or_none()


def _activate(session: Session, ctx: Context, row: RulepackVersion, action: str) -> ActivePack:
    active = _active_row(session, ctx.tenant, row.pack)
    before: str | None = None
    if active is None:
        active = RulepackActive(tenant_id=ctx.tenant, pack=row.pack)
        session.add(active)
    else:
        previous = session.get(RulepackVersion, active.version_id)
        before = previous.version if previous else None
        if active.version_id == row.id:
            raise InvalidInput(f"rulepack {row.pack} version {row.version} is already active")
    active.version_id = row.id
    active.published_at = ctx.now
    active.published_by = str(ctx.actor)
    session.add(
        RulepackPublication(
            tenant_id=ctx.tenant,
            pack=row.pack,
            version_id=row.id,
            action=action,
            at=ctx.now,
            actor=str(ctx.actor),
        )
    )
    session.flush()
    payload = {"pack": row.pack, "version": row.version, "checksum": row.checksum, "previous": before}
    outbox.write(session, [outbox.message(ctx, "rulepack.published", payload | {"action": action})])
    verb = "rulepack.published" if action == "publish" else "rulepack.rolled_back"
    audit.record(session, ctx, verb, "rulepack", row.pack, {"version": [before, row.version]})
    return ActivePack(
        pack=row.pack,
        version=row.version,
        checksum=row.checksum,
        published_at=ctx.now,
        published_by=str(ctx.actor),
    )


def active_versions(session: Session, tenant: str) -> dict[str, PackVersionView]:
    """Every pack's active version with its source: what an engine loads."""
    rows = session.execute(
        sa.select(RulepackVersion)
        .join(RulepackActive, RulepackActive.version_id == RulepackVersion.id)
        .where(RulepackActive.tenant_id == tenant)
        .order_by(RulepackVersion.pack)
    ).scalars()
    return {r.pack: _view(r, with_source=True) for r in rows}
