"""platforms: mirrored platform keys and tenant owners; outbox rows name their exchange

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 20:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = 'webhooks'


def upgrade() -> None:
    op.create_table(
        'platform_keys',
        sa.Column('key_id', sa.String(length=32), nullable=False),
        sa.Column('platform_id', sa.String(length=64), nullable=False),
        sa.Column('key_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('key_id', name=op.f('pk_platform_keys')),
        sa.UniqueConstraint('key_hash', name=op.f('uq_platform_keys_key_hash')),
        schema=SCHEMA,
    )
    op.create_index(
        op.f('ix_platform_keys_platform_id'), 'platform_keys', ['platform_id'], unique=False, schema=SCHEMA
    )
    op.create_table(
        'platform_tenants',
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.Column('platform_id', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.PrimaryKeyConstraint('tenant_id', name=op.f('pk_platform_tenants')),
        schema=SCHEMA,
    )
    op.create_index(
        op.f('ix_platform_tenants_platform_id'), 'platform_tenants', ['platform_id'], unique=False, schema=SCHEMA
    )
    op.add_column('outbox_messages', sa.Column('exchange', sa.String(length=200), nullable=True), schema=SCHEMA)


def downgrade() -> None:
    op.drop_column('outbox_messages', 'exchange', schema=SCHEMA)
    op.drop_index(op.f('ix_platform_tenants_platform_id'), table_name='platform_tenants', schema=SCHEMA)
    op.drop_table('platform_tenants', schema=SCHEMA)
    op.drop_index(op.f('ix_platform_keys_platform_id'), table_name='platform_keys', schema=SCHEMA)
    op.drop_table('platform_keys', schema=SCHEMA)
