"""API clients (integrators and other machines): created, re-keyed and disabled through here,
so every change is audited. Secrets arrive already hashed: hashing is the API's concern."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from casework import audit
from casework.context import Context
from casework.errors import Conflict, InvalidInput, NotFound
from casework.models import ApiClient
from casework.tenants import ROLES


def create_client(
    session: Session, ctx: Context, client_id: str, role: str, secret_hash: str, description: str = ""
) -> ApiClient:
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    if not client_id or len(client_id) > 64:
        raise InvalidInput("a client id is 1 to 64 characters")
    if not secret_hash:
        raise InvalidInput("a client needs a secret hash")
    if session.get(ApiClient, client_id) is not None:
        raise Conflict(f"client {client_id!r} already exists")
    client = ApiClient(
        id=client_id,
        tenant_id=ctx.tenant,
        role=role,
        secret_hash=secret_hash,
        description=description,
        active=True,
        created_at=ctx.now,
    )
    session.add(client)
    session.flush()
    # the secret hash is not written to the audit trail: it outlives any rotation there
    audit.record(session, ctx, "client.created", "client", client_id, {"role": [None, role]})
    return client


def get_client(session: Session, tenant: str, client_id: str) -> ApiClient:
    query = sa.select(ApiClient).where(ApiClient.tenant_id == tenant, ApiClient.id == client_id)
    client = session.execute(query).scalar_one_or_none()
    if client is None:
        raise NotFound(f"client {client_id!r} not found")
    return client


def rotate_secret(session: Session, ctx: Context, client_id: str, secret_hash: str) -> None:
    if not secret_hash:
        raise InvalidInput("a client needs a secret hash")
    client = get_client(session, ctx.tenant, client_id)
    client.secret_hash = secret_hash
    audit.record(session, ctx, "client.secret_rotated", "client", client_id, {})


def set_active(session: Session, ctx: Context, client_id: str, active: bool) -> None:
    client = get_client(session, ctx.tenant, client_id)
    if client.active == active:
        return
    client.active = active
    action = "client.enabled" if active else "client.disabled"
    audit.record(session, ctx, action, "client", client_id, {"active": [not active, active]})
