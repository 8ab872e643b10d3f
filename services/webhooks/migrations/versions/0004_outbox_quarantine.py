"""outbox quarantine: publish failures, quarantined_at, quarantine_reason

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 20:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "outbox_messages",
        sa.Column("publish_failures", sa.Integer(), server_default=sa.text("0"), nullable=False),
        schema="webhooks",
    )
    op.add_column(
        "outbox_messages", sa.Column("quarantined_at", sa.DateTime(timezone=True), nullable=True), schema="webhooks"
    )
    op.add_column("outbox_messages", sa.Column("quarantine_reason", sa.Text(), nullable=True), schema="webhooks")


def downgrade() -> None:
    op.drop_column("outbox_messages", "quarantine_reason", schema="webhooks")
    op.drop_column("outbox_messages", "quarantined_at", schema="webhooks")
    op.drop_column("outbox_messages", "publish_failures", schema="webhooks")
