"""import jobs limited to entities and a creation date range, with counts per entity

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 21:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('import_jobs', sa.Column('entities', postgresql.JSONB(astext_type=sa.Text()), nullable=True), schema='webhooks')
    op.add_column('import_jobs', sa.Column('created_from', sa.DateTime(timezone=True), nullable=True), schema='webhooks')
    op.add_column('import_jobs', sa.Column('created_to', sa.DateTime(timezone=True), nullable=True), schema='webhooks')
    op.add_column('import_jobs', sa.Column('counts', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False), schema='webhooks')


def downgrade() -> None:
    op.drop_column('import_jobs', 'counts', schema='webhooks')
    op.drop_column('import_jobs', 'created_to', schema='webhooks')
    op.drop_column('import_jobs', 'created_from', schema='webhooks')
    op.drop_column('import_jobs', 'entities', schema='webhooks')
