"""Setting a store up from the command line: tenants, API clients, and the demo of ``make run``.

Each function opens its own engine and transaction (the CLI's way in), never a request's.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import msgspec
from sqlalchemy.engine import Engine

from api.auth import secrets as client_secrets
from casework import clients, migrate, tenants
from casework.context import Context
from casework.db import create_engine, transaction
from casework.errors import NotFound


class ClientCredentials(msgspec.Struct, frozen=True):
    client_id: str
    client_secret: str


def create_tenant(db: Engine, tenant: str, name: str) -> bool:
    """Create ``tenant`` unless it exists; True when it was created."""
    with transaction(db) as session:
        try:
            tenants.get_tenant(session, tenant)
            return False
        except NotFound:
            tenants.create_tenant(session, Context(tenant), name)
            return True


def create_client(db: Engine, tenant: str, role: str, description: str = "") -> ClientCredentials:
    """A new API client with a fresh secret; the secret is returned here and never again."""
    client_id = client_secrets.new_client_id()
    secret = client_secrets.new_client_secret()
    with transaction(db) as session:
        tenants.get_tenant(session, tenant)
        clients.create_client(
            session, Context(tenant), client_id, role, client_secrets.hash_secret(secret), description
        )
    return ClientCredentials(client_id, secret)


def create_client_command(
    url: str | None, tenant: str, role: str, description: str = ""
) -> ClientCredentials:
    db = create_engine(url)
    try:
        return create_client(db, tenant, role, description)
    finally:
        db.dispose()


def create_tenant_command(url: str | None, tenant: str, name: str) -> bool:
    db = create_engine(url)
    try:
        return create_tenant(db, tenant, name)
    finally:
        db.dispose()


class Demo(msgspec.Struct, frozen=True):
    tenant: str
    integrator: ClientCredentials
    created: bool


def ensure_demo(url: str | None, tenant: str, credentials_file: Path) -> Demo:
    """Migrate the store and make sure the demo tenant and its integrator client exist.

    The demo client's secret is kept in ``credentials_file`` (mode 0600) so later runs can
    print it again; a real client's secret is shown once and never stored in clear.
    """
    db = create_engine(url)
    try:
        migrate.upgrade(db)
        created = create_tenant(db, tenant, "Demo tenant")
        saved: ClientCredentials | None = None
        if credentials_file.exists():
            try:
                saved = msgspec.json.decode(credentials_file.read_bytes(), type=ClientCredentials)
                with transaction(db) as session:
                    clients.get_client(session, tenant, saved.client_id)
            except (msgspec.DecodeError, NotFound):
                saved = None
        if saved is None:
            saved = create_client(db, tenant, "integrator", "demo integrator (make run)")
            credentials_file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(credentials_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump({"client_id": saved.client_id, "client_secret": saved.client_secret}, fh)
        return Demo(tenant, saved, created)
    finally:
        db.dispose()
