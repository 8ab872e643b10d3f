"""Tables of the ``webhooks`` schema."""

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
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from shared.apikeys import make_api_keys_table, make_platform_tables
from shared.connections import make_connections_table
from shared.db import schema_metadata
from shared.messaging.inbox import make_inbox_table
from shared.messaging.outbox import make_outbox_table

SCHEMA = "webhooks"
metadata = schema_metadata(SCHEMA)
inbox = make_inbox_table(metadata)
outbox = make_outbox_table(metadata)
connections = make_connections_table(metadata)
api_keys = make_api_keys_table(metadata)
platform_keys, platform_tenants = make_platform_tables(metadata)

# One row per webhook body, stored before Intuit gets its 200; a replayed body hits the unique key.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("body_sha256", String(64), nullable=False, unique=True),
    Column("format", String(20), nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(20), nullable=False, server_default="received"),
    Column("change_count", Integer, nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expanded_at", DateTime(timezone=True), nullable=True),
    Index("ix_deliveries_pending", "id", postgresql_where="status = 'received'"),
)

# One row per entity change a delivery named; the same change in another delivery hits dedup_key.
changes = Table(
    "changes",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("dedup_key", String(64), nullable=False, unique=True),
    Column("delivery_id", BigInteger, nullable=True),
    Column("realm_id", String(50), nullable=False, index=True),
    Column("entity", String(50), nullable=False),
    Column("qbo_id", String(50), nullable=False),
    Column("operation", String(20), nullable=False),
    Column("deleted_id", String(50), nullable=True),
    Column("occurred_at", DateTime(timezone=True), nullable=True),
    # pending → done | unknown_realm | waiting_connection | ignored | failed
    Column("status", String(30), nullable=False, server_default="pending"),
    Column("outcome", String(40), nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("processed_at", DateTime(timezone=True), nullable=True),
    # Read in its order by the claim (due first, then arrival), so a claim reads what it returns.
    Index("ix_changes_due", "next_attempt_at", "id", postgresql_where="status = 'pending'"),
)

# The newest version of each QBO object seen, so an older one arriving late is never published.
entity_states = Table(
    "entity_states",
    metadata,
    Column("realm_id", String(50), primary_key=True),
    Column("entity", String(50), primary_key=True),
    Column("qbo_id", String(50), primary_key=True),
    Column("sync_token", Integer, nullable=True),
    Column("last_updated_at", DateTime(timezone=True), nullable=True),
    Column("deleted", Boolean, nullable=False, server_default="false"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Versions the exporter wrote (from sync.succeeded): such a change is ours, not someone else's.
own_writes = Table(
    "own_writes",
    metadata,
    Column("connection_id", String(64), primary_key=True),
    Column("entity", String(50), primary_key=True),
    Column("qbo_id", String(50), primary_key=True),
    Column("sync_token", Integer, primary_key=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Whether a company is being written to lately (processing holds creations back only then).
    Index("ix_own_writes_recent", "connection_id", "entity", "recorded_at"),
)

# QBO invoice/bill id → the platform's id, so a payment in QBO can name the platform's documents.
document_links = Table(
    "document_links",
    metadata,
    Column("connection_id", String(64), primary_key=True),
    Column("entity", String(50), primary_key=True),
    Column("qbo_id", String(50), primary_key=True),
    Column("platform_id", String(200), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# The last ``qbo.payment.received`` reported per payment: a deletion (which QBO reports with the
# id alone) is announced against it, with the documents it had been applied to.
payment_reports = Table(
    "payment_reports",
    metadata,
    Column("connection_id", String(64), primary_key=True),
    Column("entity", String(50), primary_key=True),
    Column("qbo_id", String(50), primary_key=True),
    Column("payload", JSONB, nullable=False),
    Column("reported_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Per connection: what its settings let the read path tell the platform (from the mapper's
# ``connection.settings_changed``; a connection without a row has the default settings).
read_settings = Table(
    "read_settings",
    metadata,
    Column("connection_id", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("categories", JSONB, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Per connection: CDC has seen everything changed before ``changed_since``.
cdc_watermarks = Table(
    "cdc_watermarks",
    metadata,
    Column("connection_id", String(64), primary_key=True),
    Column("changed_since", DateTime(timezone=True), nullable=False),
    Column("next_run_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_run_at", DateTime(timezone=True), nullable=True),
    Column("last_published", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
)

# Reference imports (``Import``) and refreshes of known objects (``Update``), run in the background.
import_jobs = Table(
    "import_jobs",
    metadata,
    Column("job_id", String(32), primary_key=True),
    Column("connection_id", String(64), nullable=False, index=True),
    Column("kind", String(20), nullable=False),
    Column("status", String(20), nullable=False, server_default="pending"),
    Column("published", Integer, nullable=False, server_default="0"),
    Column("error", Text, nullable=True),
    Column("requested_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("heartbeat_at", DateTime(timezone=True), nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    # An import limited to some entities and a creation date range (all, and no range, when null).
    Column("entities", JSONB, nullable=True),
    Column("created_from", DateTime(timezone=True), nullable=True),
    Column("created_to", DateTime(timezone=True), nullable=True),
    Column("counts", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
)
