"""changes due in order: the claim reads the partial index in its order

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 22:25:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_changes_due", table_name="changes", schema="webhooks")
    op.create_index(
        "ix_changes_due",
        "changes",
        ["next_attempt_at", "id"],
        unique=False,
        schema="webhooks",
        postgresql_where="status = 'pending'",
    )


def downgrade() -> None:
    op.drop_index("ix_changes_due", table_name="changes", schema="webhooks")
    op.create_index(
        "ix_changes_due",
        "changes",
        ["next_attempt_at"],
        unique=False,
        schema="webhooks",
        postgresql_where="status = 'pending'",
    )
