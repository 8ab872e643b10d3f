"""outbox rows name their exchange

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 20:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "outbox_messages", sa.Column("exchange", sa.String(length=200), nullable=True), schema="testkit"
    )


def downgrade() -> None:
    op.drop_column("outbox_messages", "exchange", schema="testkit")
