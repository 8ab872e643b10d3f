"""realm leases: call budget taken a few calls at a time; throttle pauses that back off

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 23:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "realm_leases",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("realm_id", sa.String(length=50), nullable=False),
        sa.Column("batch", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_realm_leases")),
        schema="qbo_limits",
    )
    op.create_index(
        "ix_realm_leases_realm_id_granted_at",
        "realm_leases",
        ["realm_id", "granted_at"],
        unique=False,
        schema="qbo_limits",
    )
    op.add_column(
        "realm_throttles",
        sa.Column("pause_seconds", sa.Float(), server_default="0", nullable=False),
        schema="qbo_limits",
    )
    op.drop_index("ix_realm_calls_realm_id_started_at", table_name="realm_calls", schema="qbo_limits")
    op.drop_table("realm_calls", schema="qbo_limits")


def downgrade() -> None:
    op.create_table(
        "realm_calls",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("realm_id", sa.String(length=50), nullable=False),
        sa.Column("batch", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_realm_calls")),
        schema="qbo_limits",
    )
    op.create_index(
        "ix_realm_calls_realm_id_started_at",
        "realm_calls",
        ["realm_id", "started_at"],
        unique=False,
        schema="qbo_limits",
    )
    op.drop_column("realm_throttles", "pause_seconds", schema="qbo_limits")
    op.drop_index("ix_realm_leases_realm_id_granted_at", table_name="realm_leases", schema="qbo_limits")
    op.drop_table("realm_leases", schema="qbo_limits")
