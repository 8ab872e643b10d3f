"""bulk ingest batches and the events of each batch

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 21:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('batches',
    sa.Column('batch_id', sa.String(length=64), nullable=False),
    sa.Column('tenant_id', sa.String(length=200), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('rejected_lines', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('batch_id', name=op.f('pk_batches')),
    schema='mapper'
    )
    op.create_table('batch_events',
    sa.Column('batch_id', sa.String(length=64), nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.String(length=200), nullable=False),
    sa.Column('event_id', sa.String(length=200), nullable=False),
    sa.Column('object_type', sa.String(length=60), nullable=False),
    sa.Column('export_outcome', sa.String(length=20), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('batch_id', 'line', name=op.f('pk_batch_events')),
    schema='mapper'
    )
    op.create_index('ix_batch_events_tenant_id_event_id', 'batch_events', ['tenant_id', 'event_id'], unique=False, schema='mapper')


def downgrade() -> None:
    op.drop_index('ix_batch_events_tenant_id_event_id', table_name='batch_events', schema='mapper')
    op.drop_table('batch_events', schema='mapper')
    op.drop_table('batches', schema='mapper')
