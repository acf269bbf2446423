"""Entry points for the CLI (``vigil db``, ``vigil audit``, ``vigil retention``): plain functions
with typed arguments that open their own engine and transaction.

``url`` None means ``VIGIL_DATABASE_URL`` or the embedded SQLite file.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa

from casework import audit, migrate, retention, signing
from casework import audit_export as exporter
from casework.audit import VerifyResult
from casework.audit_export import ExportCheck, ExportManifest
from casework.context import SYSTEM, Actor, Context, utcnow
from casework.db import create_engine, read_transaction, transaction
from casework.models import Tenant
from casework.retention import PurgeReport


def db_upgrade(url: str | None = None, revision: str = "head") -> str | None:
    """Migrate the schema up to ``revision``; returns the revision now current."""
    engine = create_engine(url)
    try:
        migrate.upgrade(engine, revision)
        return migrate.current_revision(engine)
    finally:
        engine.dispose()


def db_downgrade(url: str | None, revision: str) -> str | None:
    """Migrate the schema down to ``revision`` (``base`` drops everything); returns the revision now current."""
    engine = create_engine(url)
    try:
        migrate.downgrade(engine, revision)
        return migrate.current_revision(engine)
    finally:
        engine.dispose()


def db_current(url: str | None = None) -> str | None:
    engine = create_engine(url)
    try:
        return migrate.current_revision(engine)
    finally:
        engine.dispose()


def audit_verify(url: str | None = None, tenant: str | None = None) -> list[VerifyResult]:
    """Verify one tenant's chain, or every tenant's when ``tenant`` is None."""
    engine = create_engine(url)
    try:
        with read_transaction(engine) as session:
            tenants = (
                [tenant]
                if tenant
                else list(session.execute(sa.select(Tenant.id).order_by(Tenant.id)).scalars())
            )
            return [audit.verify(session, t) for t in tenants]
    finally:
        engine.dispose()


def audit_export(
    url: str | None,
    tenant: str,
    start: dt.datetime | None,
    end: dt.datetime | None,
    fmt: str,
    out_dir: Path,
    private_key_path: Path,
    actor: Actor = SYSTEM,
) -> ExportManifest:
    """Write a signed export of ``tenant``'s entries with ``start <= at < end`` to ``out_dir``."""
    engine = create_engine(url)
    try:
        with transaction(engine) as session:
            return exporter.export(
                session, Context(tenant, actor), out_dir, private_key_path, start=start, end=end, fmt=fmt
            )
    finally:
        engine.dispose()


def audit_verify_export(directory: Path, public_key_path: Path) -> ExportCheck:
    """Check an export offline (no database): signature, digest and hash chain."""
    return exporter.verify_export(directory, public_key_path)


def audit_keygen(private_key_path: Path, public_key_path: Path) -> str:
    """Create an Ed25519 key pair for signing exports; returns its key id."""
    return signing.generate_keypair(private_key_path, public_key_path)


def retention_run(url: str | None = None, now: dt.datetime | None = None) -> list[PurgeReport]:
    """Purge every tenant that has a retention period; one transaction per tenant."""
    moment = now or utcnow()
    engine = create_engine(url)
    try:
        with transaction(engine) as session:
            tenants = retention.tenants_with_retention(session)
        reports = []
        for tenant in tenants:
            with transaction(engine) as session:
                reports.append(retention.purge(session, Context(tenant, SYSTEM, now=moment)))
        return reports
    finally:
        engine.dispose()
