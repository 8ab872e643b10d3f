"""webhook endpoints, deliveries and attempts (HTTP egress for platforms)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 20:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = 'auth'


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        'webhook_endpoints',
        sa.Column('id', sa.UUID(as_uuid=False), nullable=False),
        sa.Column('platform_id', sa.String(length=64), nullable=False),
        sa.Column('url', sa.Text(), nullable=False),
        sa.Column('event_types', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('secret_ciphertext', sa.Text(), nullable=False),
        sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_endpoints')),
        schema=SCHEMA,
    )
    op.create_index(
        op.f('ix_webhook_endpoints_platform_id'), 'webhook_endpoints', ['platform_id'], unique=False, schema=SCHEMA
    )
    op.create_table(
        'webhook_deliveries',
        sa.Column('id', sa.UUID(as_uuid=False), nullable=False),
        sa.Column('endpoint_id', sa.UUID(as_uuid=False), nullable=False),
        sa.Column('event_id', sa.String(length=200), nullable=False),
        sa.Column('event_type', sa.String(length=200), nullable=False),
        sa.Column('envelope', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ['endpoint_id'],
            ['auth.webhook_endpoints.id'],
            name=op.f('fk_webhook_deliveries_endpoint_id_webhook_endpoints'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_deliveries')),
        schema=SCHEMA,
    )
    op.create_index(
        op.f('ix_webhook_deliveries_endpoint_id'), 'webhook_deliveries', ['endpoint_id'], unique=False, schema=SCHEMA
    )
    op.create_index(
        'uq_webhook_deliveries_endpoint_id_event_id',
        'webhook_deliveries',
        ['endpoint_id', 'event_id'],
        unique=True,
        schema=SCHEMA,
    )
    op.create_index(
        'ix_webhook_deliveries_due',
        'webhook_deliveries',
        ['next_attempt_at'],
        unique=False,
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        'webhook_attempts',
        sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column('delivery_id', sa.UUID(as_uuid=False), nullable=False),
        sa.Column('attempt', sa.Integer(), nullable=False),
        sa.Column('status_code', sa.Integer(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('duration_ms', sa.Integer(), nullable=False),
        sa.Column('attempted_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.ForeignKeyConstraint(
            ['delivery_id'],
            ['auth.webhook_deliveries.id'],
            name=op.f('fk_webhook_attempts_delivery_id_webhook_deliveries'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_attempts')),
        schema=SCHEMA,
    )
    op.create_index(
        op.f('ix_webhook_attempts_delivery_id'), 'webhook_attempts', ['delivery_id'], unique=False, schema=SCHEMA
    )


def downgrade() -> None:
    op.drop_table('webhook_attempts', schema=SCHEMA)
    op.drop_table('webhook_deliveries', schema=SCHEMA)
    op.drop_table('webhook_endpoints', schema=SCHEMA)
