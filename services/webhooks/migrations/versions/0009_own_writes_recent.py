"""own writes by connection, entity and time: which entities a company is being written lately

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 15:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_own_writes_recent",
        "own_writes",
        ["connection_id", "entity", "recorded_at"],
        unique=False,
        schema="webhooks",
    )


def downgrade() -> None:
    op.drop_index("ix_own_writes_recent", table_name="own_writes", schema="webhooks")
