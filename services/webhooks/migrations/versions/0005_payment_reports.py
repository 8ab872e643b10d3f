"""payment reports

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 20:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payment_reports",
        sa.Column("connection_id", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=50), nullable=False),
        sa.Column("qbo_id", sa.String(length=50), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("connection_id", "entity", "qbo_id", name=op.f("pk_payment_reports")),
        schema="webhooks",
    )


def downgrade() -> None:
    op.drop_table("payment_reports", schema="webhooks")
