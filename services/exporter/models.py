"""Tables of the ``exporter`` schema."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from shared.apikeys import make_api_keys_table, make_platform_tables
from shared.connections import make_connections_table
from shared.db import schema_metadata
from shared.messaging.inbox import make_inbox_table
from shared.messaging.outbox import make_outbox_table

SCHEMA = "exporter"
metadata = schema_metadata(SCHEMA)
inbox = make_inbox_table(metadata)
outbox = make_outbox_table(metadata)
connections = make_connections_table(metadata)
api_keys = make_api_keys_table(metadata)
platform_keys, platform_tenants = make_platform_tables(metadata)

_CLAIMABLE = "status IN ('queued', 'running')"
_LIVE = "status IN ('queued', 'running', 'parked')"
_WAITING = "status = 'parked' AND park_reason = 'dependency'"

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(36), primary_key=True),
    # Creation order: writes for one object happen in this order.
    Column("seq", BigInteger, Identity(), nullable=False, unique=True),
    Column("connection_id", String(64), nullable=False),
    Column("realm_id", String(50), nullable=False),
    Column("tenant_id", String(200), nullable=True),
    Column("entity", String(50), nullable=False),
    Column("operation", String(10), nullable=False),
    Column("object_type", String(50), nullable=False),
    Column("platform_id", String(200), nullable=False),
    Column("source_event_id", String(200), nullable=False),
    Column("requestid", String(50), nullable=False),
    Column("match_field", String(50), nullable=True),
    Column("match_value", Text, nullable=True),
    # The whole match key (party and total for documents); match_field/value kept for queries.
    Column("match", JSONB, nullable=True),
    Column("payload", JSONB, nullable=False),
    Column("depends_on", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    # Writes of the same source event that must have ended before this one starts.
    Column("after", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    # The platform event's time: writes to one object apply in (event_time or created_at, seq) order.
    Column("event_time", DateTime(timezone=True), nullable=True),
    # An update, void or delete of an object not in QBO: "wait" for its create, or "skip".
    Column("if_absent", String(10), nullable=False, server_default="wait"),
    Column("status", String(20), nullable=False),
    Column("park_reason", String(20), nullable=True),
    # When a parked job stops waiting and ends (sync.failed, or skipped for a void of nothing).
    Column("wait_until", DateTime(timezone=True), nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("in_doubt", Boolean, nullable=False, server_default="false"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("claimed_by", String(64), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("error_code", String(40), nullable=True),
    Column("hint", Text, nullable=True),
    Column("error_category", String(20), nullable=True),
    Column("retryable", Boolean, nullable=True),
    Column("qbo_fault", JSONB, nullable=True),
    Column("intuit_tid", String(100), nullable=True),
    Column("qbo_id", String(50), nullable=True),
    Column("qbo_doc_number", String(50), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # The W3C trace context of the message that asked for the write: the QBO write continues it.
    Column("traceparent", String(64), nullable=True),
    Column("tracestate", String(512), nullable=True),
    # A bulk backfill's write: claimed after the live writes of its realm.
    Column("history", Boolean, nullable=False, server_default=text("false")),
    UniqueConstraint("connection_id", "requestid"),
    # Only live rows are indexed for the claim and the ordering checks: finished rows cost nothing.
    Index("ix_jobs_claimable_realm", "realm_id", "history", "seq", postgresql_where=text(_CLAIMABLE)),
    Index("ix_jobs_live_object", "connection_id", "entity", "platform_id", postgresql_where=text(_LIVE)),
    Index(
        "ix_jobs_waiting_depends_on",
        "depends_on",
        postgresql_using="gin",
        postgresql_ops={"depends_on": "jsonb_path_ops"},
        postgresql_where=text(_WAITING),
    ),
    Index("ix_jobs_running_lease_until", "lease_until", postgresql_where=text("status = 'running'")),
    Index("ix_jobs_connection_id_created_at", "connection_id", "created_at"),
    Index("ix_jobs_connection_id_entity_platform_id", "connection_id", "entity", "platform_id"),
    Index("ix_jobs_connection_id_source_event_id_seq", "connection_id", "source_event_id", "seq"),
    Index("ix_jobs_wait_until", "wait_until", postgresql_where=text("status = 'parked'")),
)

# Platform object → QBO object, per connection: how symbolic links and updates find their target.
links = Table(
    "links",
    metadata,
    Column("connection_id", String(64), primary_key=True),
    Column("entity", String(50), primary_key=True),
    Column("platform_id", String(200), primary_key=True),
    Column("object_type", String(50), nullable=True),
    Column("qbo_id", String(50), nullable=False),
    Column("sync_token", String(20), nullable=True),
    Column("doc_number", String(50), nullable=True),
    # The newest platform event time written to this object: an older event is superseded.
    Column("event_time", DateTime(timezone=True), nullable=True),
    # Hash of the last body written (or adopted): an unchanged customer/vendor/item is not rewritten.
    Column("fingerprint", String(64), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
