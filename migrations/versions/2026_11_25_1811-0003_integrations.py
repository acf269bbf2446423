"""Integrations: Slack, email and generic HTTP targets per tenant, and their deliveries.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 18:11:10.394361+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Frozen here rather than imported so later model changes cannot rewrite history.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "integrations",
        sa.Column("id", BigId, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("templates", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("allow_private", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_integrations_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integrations")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_integrations_tenant_id_name")),
    )
    op.create_table(
        "integration_deliveries",
        sa.Column("id", BigId, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("integration_id", BigId, nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name=op.f("fk_integration_deliveries_integration_id_integrations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_integration_deliveries_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integration_deliveries")),
        sa.UniqueConstraint(
            "integration_id", "message_id", name=op.f("uq_integration_deliveries_integration_id_message_id")
        ),
    )
    with op.batch_alter_table("integration_deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_integration_deliveries_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_integration_deliveries_integration_id"), ["integration_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("integration_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_integration_deliveries_integration_id"))
        batch_op.drop_index("ix_integration_deliveries_due")

    op.drop_table("integration_deliveries")
    op.drop_table("integrations")
