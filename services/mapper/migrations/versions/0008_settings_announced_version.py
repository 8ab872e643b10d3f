"""settings: the version last announced to the read path (NULL: saved before announcements)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-09 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # NULL for every existing row: whether an older version announced it is not known, so each is
    # announced once more (the read path ignores a version it already holds).
    op.add_column('connection_settings', sa.Column('announced_version', sa.Integer(), nullable=True), schema='mapper')


def downgrade() -> None:
    op.drop_column('connection_settings', 'announced_version', schema='mapper')
