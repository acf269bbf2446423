"""The migrations build exactly the schema the models describe, on both databases, and go down cleanly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine

from casework import migrate
from casework.models import Base


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_at_head(engine: Engine) -> None:
    assert migrate.current_revision(engine) == migrate.head_revision()


def test_reads_run_beside_a_writer(engine: Engine) -> None:
    """On SQLite a read transaction does not wait for the write lock a writer holds."""
    import sqlalchemy as sa

    from casework.db import read_transaction, transaction
    from casework.models import Tenant

    with transaction(engine) as writer:
        writer.execute(sa.select(Tenant.id)).all()
        with read_transaction(engine) as reader:
            assert reader.execute(sa.select(sa.func.count()).select_from(Tenant)).scalar_one() == 0
