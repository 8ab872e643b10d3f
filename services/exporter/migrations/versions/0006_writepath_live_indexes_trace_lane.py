"""write path: claim reads only live rows (partial indexes), trace context and lane on jobs

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 23:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CLAIMABLE = sa.text("status IN ('queued', 'running')")
_LIVE = sa.text("status IN ('queued', 'running', 'parked')")
_WAITING = sa.text("status = 'parked' AND park_reason = 'dependency'")


def upgrade() -> None:
    op.add_column("jobs", sa.Column("traceparent", sa.String(length=64), nullable=True), schema="exporter")
    op.add_column("jobs", sa.Column("tracestate", sa.String(length=512), nullable=True), schema="exporter")
    op.add_column(
        "jobs", sa.Column("history", sa.Boolean(), server_default=sa.text("false"), nullable=False), schema="exporter"
    )
    # Every status change rewrote this index, and the claim walked all of it: finished rows included.
    op.drop_index("ix_jobs_status_next_attempt_at", table_name="jobs", schema="exporter")
    op.create_index(
        "ix_jobs_claimable_realm", "jobs", ["realm_id", "history", "seq"], schema="exporter", postgresql_where=_CLAIMABLE
    )
    op.create_index(
        "ix_jobs_live_object",
        "jobs",
        ["connection_id", "entity", "platform_id"],
        schema="exporter",
        postgresql_where=_LIVE,
    )
    op.create_index(
        "ix_jobs_waiting_depends_on",
        "jobs",
        ["depends_on"],
        schema="exporter",
        postgresql_using="gin",
        postgresql_ops={"depends_on": "jsonb_path_ops"},
        postgresql_where=_WAITING,
    )
    op.create_index(
        "ix_jobs_running_lease_until", "jobs", ["lease_until"], schema="exporter", postgresql_where=sa.text("status = 'running'")
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_running_lease_until", table_name="jobs", schema="exporter")
    op.drop_index("ix_jobs_waiting_depends_on", table_name="jobs", schema="exporter")
    op.drop_index("ix_jobs_live_object", table_name="jobs", schema="exporter")
    op.drop_index("ix_jobs_claimable_realm", table_name="jobs", schema="exporter")
    op.create_index("ix_jobs_status_next_attempt_at", "jobs", ["status", "next_attempt_at"], schema="exporter")
    op.drop_column("jobs", "history", schema="exporter")
    op.drop_column("jobs", "tracestate", schema="exporter")
    op.drop_column("jobs", "traceparent", schema="exporter")
