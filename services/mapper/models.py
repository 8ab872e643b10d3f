"""Tables of the ``mapper`` schema."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
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

SCHEMA = "mapper"
metadata = schema_metadata(SCHEMA)
inbox = make_inbox_table(metadata)
outbox = make_outbox_table(metadata)
connections = make_connections_table(metadata)
api_keys = make_api_keys_table(metadata)
platform_keys, platform_tenants = make_platform_tables(metadata)

# The current settings of each connection; every saved version is also kept in the history.
connection_settings = Table(
    "connection_settings",
    metadata,
    Column("connection_id", String(64), primary_key=True),
    Column("tenant_id", String(200), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("settings", JSONB, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # The version last announced as ``connection.settings_changed``; NULL (or behind ``version``)
    # for settings a version before the announcement saved: the mapper announces those itself.
    Column("announced_version", Integer, nullable=True),
)

connection_settings_history = Table(
    "connection_settings_history",
    metadata,
    Column("connection_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("settings", JSONB, nullable=False),
    Column("changed_by", String(200), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# The QBO reference mirror, per company (realm): one row per QBO object, its full JSON kept.
reference_entities = Table(
    "reference_entities",
    metadata,
    Column("realm_id", String(50), primary_key=True),
    Column("entity", String(40), primary_key=True),
    Column("qbo_id", String(64), primary_key=True),
    Column("name", String(1100), nullable=False),
    # Case-folded full and leaf names: lookups match names the way QBO users type them.
    Column("name_key", String(1100), nullable=False),
    Column("leaf_key", String(1100), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("data", JSONB, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_reference_entities_lookup", "realm_id", "entity", "name_key"),
)

# Values platforms were seen using (tax rates, payment methods, terms, currencies), for readiness.
platform_values = Table(
    "platform_values",
    metadata,
    Column("connection_id", String(64), primary_key=True),
    Column("kind", String(40), primary_key=True),
    Column("value", String(200), primary_key=True),
    # When the value was first seen (its row is never updated: see repository.record_used_values).
    Column("last_seen_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# What became of each platform event: mapped, rejected (and why), skipped by a setting, or waiting
# (held, with its envelope, until the company's lists are imported). The history platforms and the
# console read; a rejected event sent again with the same id updates its row.
platform_events = Table(
    "platform_events",
    metadata,
    Column("seq", BigInteger, Identity(), primary_key=True),
    Column("tenant_id", String(200), nullable=False),
    Column("event_id", String(200), nullable=False),
    Column("connection_id", String(64), nullable=True),
    Column("type", String(200), nullable=False),
    Column("platform_id", String(200), nullable=True),
    Column("outcome", String(20), nullable=False),
    Column("code", String(60), nullable=True),
    Column("message", Text, nullable=True),
    Column("hint", Text, nullable=True),
    Column("problems", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    # Kept only while the event waits; dropped once it is mapped or refused.
    Column("envelope", JSONB, nullable=True),
    Column("hold_until", DateTime(timezone=True), nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("tenant_id", "event_id"),
    Index("ix_platform_events_connection_id_seq", "connection_id", "seq"),
    Index(
        "ix_platform_events_waiting",
        "hold_until",
        postgresql_where=text("outcome = 'waiting'"),
    ),
)

# Companies whose reference import has ended at least once (the mirror is per realm).
reference_imports = Table(
    "reference_imports",
    metadata,
    Column("realm_id", String(50), primary_key=True),
    Column("connection_id", String(64), nullable=False),
    Column("status", String(20), nullable=False),
    Column("counts", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("finished_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Bulk ingest (architecture §5b): one row per batch, one per accepted line with the exporter's
# outcome of its event (from sync.succeeded/sync.failed); the mapper's own outcome is in platform_events.
batches = Table(
    "batches",
    metadata,
    Column("batch_id", String(64), primary_key=True),
    Column("tenant_id", String(200), nullable=False),
    Column("total", Integer, nullable=False),
    Column("rejected_lines", Integer, nullable=False),
    Column("created_by", String(200), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

batch_events = Table(
    "batch_events",
    metadata,
    Column("batch_id", String(64), primary_key=True),
    Column("line", Integer, primary_key=True),
    Column("tenant_id", String(200), nullable=False),
    Column("event_id", String(200), nullable=False),
    Column("object_type", String(60), nullable=False),
    Column("export_outcome", String(20), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_batch_events_tenant_id_event_id", "tenant_id", "event_id"),
)

# Summarized journal mode: one QBO JournalEntry per connection per day. A day's row is locked while
# its entry is recomputed (documents of one day are summed one at a time); ``generation`` moves on
# when the day's entry was deleted (nothing left to post), so a later document makes a new one.
journal_days = Table(
    "journal_days",
    metadata,
    Column("connection_id", String(64), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("generation", Integer, nullable=False, server_default=text("0")),
    Column("posted", Boolean, nullable=False, server_default=text("false")),
    # The time of the last recomputation: the order the exporter applies the day's writes in.
    Column("revised_at", DateTime(timezone=True), nullable=True),
)

# Which documents count for which day, and each one's share (``day`` null: voided).
journal_documents = Table(
    "journal_documents",
    metadata,
    Column("connection_id", String(64), primary_key=True),
    Column("document_key", String(260), primary_key=True),
    Column("day", Date, nullable=True),
    Column("share", JSONB, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_journal_documents_day", "connection_id", "day"),
)
