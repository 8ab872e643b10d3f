"""outbox quarantine: publish failures, quarantined_at, quarantine_reason

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 20:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "outbox_messages",
        sa.Column("publish_failures", sa.Integer(), server_default=sa.text("0"), nullable=False),
        schema="auth",
    )
    op.add_column(
        "outbox_messages", sa.Column("quarantined_at", sa.DateTime(timezone=True), nullable=True), schema="auth"
    )
    op.add_column("outbox_messages", sa.Column("quarantine_reason", sa.Text(), nullable=True), schema="auth")


def downgrade() -> None:
    op.drop_column("outbox_messages", "quarantine_reason", schema="auth")
    op.drop_column("outbox_messages", "quarantined_at", schema="auth")
    op.drop_column("outbox_messages", "publish_failures", schema="auth")
