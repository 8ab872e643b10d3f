"""platform event outcomes (with held events) and finished reference imports

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 20:30:00
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
    op.create_table('platform_events',
    sa.Column('seq', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('tenant_id', sa.String(length=200), nullable=False),
    sa.Column('event_id', sa.String(length=200), nullable=False),
    sa.Column('connection_id', sa.String(length=64), nullable=True),
    sa.Column('type', sa.String(length=200), nullable=False),
    sa.Column('platform_id', sa.String(length=200), nullable=True),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('code', sa.String(length=60), nullable=True),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('hint', sa.Text(), nullable=True),
    sa.Column('problems', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.Column('envelope', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('hold_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_platform_events')),
    sa.UniqueConstraint('tenant_id', 'event_id', name=op.f('uq_platform_events_tenant_id_event_id')),
    schema='mapper'
    )
    op.create_index('ix_platform_events_connection_id_seq', 'platform_events', ['connection_id', 'seq'], unique=False, schema='mapper')
    op.create_index('ix_platform_events_waiting', 'platform_events', ['hold_until'], unique=False, schema='mapper', postgresql_where=sa.text("outcome = 'waiting'"))
    op.create_table('reference_imports',
    sa.Column('realm_id', sa.String(length=50), nullable=False),
    sa.Column('connection_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('counts', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('realm_id', name=op.f('pk_reference_imports')),
    schema='mapper'
    )
    # Companies connected before this revision were imported under the old rules: they do not wait.
    op.execute(
        "INSERT INTO mapper.reference_imports (realm_id, connection_id, status) "
        "SELECT DISTINCT ON (realm_id) realm_id, connection_id, 'done' FROM mapper.connections "
        "ORDER BY realm_id, updated_at DESC"
    )


def downgrade() -> None:
    op.drop_table('reference_imports', schema='mapper')
    op.drop_index('ix_platform_events_waiting', table_name='platform_events', schema='mapper')
    op.drop_index('ix_platform_events_connection_id_seq', table_name='platform_events', schema='mapper')
    op.drop_table('platform_events', schema='mapper')
