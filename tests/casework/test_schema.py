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
