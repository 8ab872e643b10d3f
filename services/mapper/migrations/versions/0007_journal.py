"""summarized journal mode: the days' entries and the documents counting for each day

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('journal_days',
    sa.Column('connection_id', sa.String(length=64), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('generation', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('posted', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('revised_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('connection_id', 'day', name=op.f('pk_journal_days')),
    schema='mapper'
    )
    op.create_table('journal_documents',
    sa.Column('connection_id', sa.String(length=64), nullable=False),
    sa.Column('document_key', sa.String(length=260), nullable=False),
    sa.Column('day', sa.Date(), nullable=True),
    sa.Column('share', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('connection_id', 'document_key', name=op.f('pk_journal_documents')),
    schema='mapper'
    )
    op.create_index('ix_journal_documents_day', 'journal_documents', ['connection_id', 'day'], unique=False, schema='mapper')


def downgrade() -> None:
    op.drop_index('ix_journal_documents_day', table_name='journal_documents', schema='mapper')
    op.drop_table('journal_documents', schema='mapper')
    op.drop_table('journal_days', schema='mapper')
