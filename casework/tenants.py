"""Tenants, users and roles: created and changed through here so every change is audited."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import sqlalchemy as sa
from sqlalchemy.orm import Session

from casework import audit
from casework.canonical import GENESIS_HASH
from casework.context import Context
from casework.errors import Conflict, InvalidInput, NotFound
from casework.models import AuditHead, Tenant, User, UserRole

ROLES: Final[tuple[str, ...]] = ("integrator", "analyst", "investigator", "compliance", "admin")


def create_tenant(session: Session, ctx: Context, name: str, retention_days: int | None = None) -> Tenant:
    """Create ``ctx.tenant`` with its empty audit chain; the chain's first entry records the creation."""
    if not ctx.tenant or len(ctx.tenant) > 64:
        raise InvalidInput("a tenant id is 1 to 64 characters")
    if retention_days is not None and retention_days < 1:
        raise InvalidInput("retention_days must be at least 1 (or unset to keep everything)")
    if session.get(Tenant, ctx.tenant) is not None:
        raise Conflict(f"tenant {ctx.tenant!r} already exists")
    tenant = Tenant(id=ctx.tenant, name=name, retention_days=retention_days, created_at=ctx.now)
    session.add(tenant)
    # no relationship() ties the two, so the unit of work needs the tenant flushed first
    session.flush()
    session.add(AuditHead(tenant_id=ctx.tenant, last_seq=0, last_hash=GENESIS_HASH, updated_at=ctx.now))
    session.flush()
    audit.record(
        session,
        ctx,
        "tenant.created",
        "tenant",
        ctx.tenant,
        {"name": [None, name], "retention_days": [None, retention_days]},
    )
    return tenant


def set_retention(session: Session, ctx: Context, retention_days: int | None) -> None:
    if retention_days is not None and retention_days < 1:
        raise InvalidInput("retention_days must be at least 1 (or unset to keep everything)")
    tenant = get_tenant(session, ctx.tenant)
    before = tenant.retention_days
    tenant.retention_days = retention_days
    audit.record(
        session,
        ctx,
        "tenant.retention_changed",
        "tenant",
        ctx.tenant,
        {"retention_days": [before, retention_days]},
    )


def get_tenant(session: Session, tenant_id: str) -> Tenant:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound(f"tenant {tenant_id!r} not found")
    return tenant


def _check_roles(roles: Iterable[str]) -> list[str]:
    roles = sorted(set(roles))
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise InvalidInput(f"unknown role {', '.join(unknown)}; roles are {', '.join(ROLES)}")
    return roles


def create_user(
    session: Session,
    ctx: Context,
    username: str,
    roles: Iterable[str],
    display_name: str = "",
    email: str | None = None,
) -> User:
    username = username.strip()
    if not username:
        raise InvalidInput("a username cannot be empty")
    checked = _check_roles(roles)
    exists = session.execute(
        sa.select(User.id).where(User.tenant_id == ctx.tenant, User.username == username)
    ).first()
    if exists:
        raise Conflict(f"user {username!r} already exists")
    user = User(
        tenant_id=ctx.tenant,
        username=username,
        display_name=display_name,
        email=email,
        active=True,
        created_at=ctx.now,
    )
    session.add(user)
    session.flush()
    session.add_all(UserRole(tenant_id=ctx.tenant, user_id=user.id, role=r) for r in checked)
    audit.record(
        session,
        ctx,
        "user.created",
        "user",
        str(user.id),
        {"username": [None, username], "roles": [None, checked]},
    )
    return user


def get_user(session: Session, tenant: str, user_id: int) -> User:
    user = session.execute(
        sa.select(User).where(User.tenant_id == tenant, User.id == user_id)
    ).scalar_one_or_none()
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return user


def user_roles(session: Session, tenant: str, user_id: int) -> list[str]:
    query = sa.select(UserRole.role).where(UserRole.tenant_id == tenant, UserRole.user_id == user_id)
    return sorted(session.execute(query).scalars())


def set_roles(session: Session, ctx: Context, user_id: int, roles: Iterable[str]) -> None:
    get_user(session, ctx.tenant, user_id)
    checked = _check_roles(roles)
    before = user_roles(session, ctx.tenant, user_id)
    if before == checked:
        return
    session.execute(sa.delete(UserRole).where(UserRole.tenant_id == ctx.tenant, UserRole.user_id == user_id))
    session.add_all(UserRole(tenant_id=ctx.tenant, user_id=user_id, role=r) for r in checked)
    audit.record(session, ctx, "user.roles_changed", "user", str(user_id), {"roles": [before, checked]})


def set_active(session: Session, ctx: Context, user_id: int, active: bool) -> None:
    user = get_user(session, ctx.tenant, user_id)
    if user.active == active:
        return
    user.active = active
    action = "user.activated" if active else "user.deactivated"
    audit.record(session, ctx, action, "user", str(user_id), {"active": [not active, active]})
