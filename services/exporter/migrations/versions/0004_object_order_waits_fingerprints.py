"""writes to one object in event-time order, bounded waits, whole match keys, link fingerprints

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 20:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('jobs', sa.Column('event_time', sa.DateTime(timezone=True), nullable=True), schema='exporter')
    op.add_column('jobs', sa.Column('if_absent', sa.String(length=10), server_default='wait', nullable=False), schema='exporter')
    op.add_column('jobs', sa.Column('after', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False), schema='exporter')
    op.add_column('jobs', sa.Column('match', postgresql.JSONB(astext_type=sa.Text()), nullable=True), schema='exporter')
    op.add_column('jobs', sa.Column('wait_until', sa.DateTime(timezone=True), nullable=True), schema='exporter')
    op.create_index('ix_jobs_connection_id_source_event_id_seq', 'jobs', ['connection_id', 'source_event_id', 'seq'], unique=False, schema='exporter')
    op.create_index('ix_jobs_wait_until', 'jobs', ['wait_until'], unique=False, schema='exporter', postgresql_where=sa.text("status = 'parked'"))
    op.add_column('links', sa.Column('event_time', sa.DateTime(timezone=True), nullable=True), schema='exporter')
    op.add_column('links', sa.Column('fingerprint', sa.String(length=64), nullable=True), schema='exporter')


def downgrade() -> None:
    op.drop_column('links', 'fingerprint', schema='exporter')
    op.drop_column('links', 'event_time', schema='exporter')
    op.drop_index('ix_jobs_wait_until', table_name='jobs', schema='exporter')
    op.drop_index('ix_jobs_connection_id_source_event_id_seq', table_name='jobs', schema='exporter')
    op.drop_column('jobs', 'wait_until', schema='exporter')
    op.drop_column('jobs', 'match', schema='exporter')
    op.drop_column('jobs', 'after', schema='exporter')
    op.drop_column('jobs', 'if_absent', schema='exporter')
    op.drop_column('jobs', 'event_time', schema='exporter')
