"""Tables of the ``auth`` schema."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from shared.apikeys import make_api_keys_table, make_platform_tables
from shared.db import schema_metadata
from shared.messaging.inbox import make_inbox_table
from shared.messaging.outbox import make_outbox_table

SCHEMA = "auth"
metadata = schema_metadata(SCHEMA)
inbox = make_inbox_table(metadata)
outbox = make_outbox_table(metadata)
api_keys = make_api_keys_table(metadata)
platform_keys, platform_tenants = make_platform_tables(metadata)


def _timestamps() -> list[Column[object]]:
    return [
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    ]


connections = Table(
    "connections",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("tenant_id", String(200), nullable=False, index=True),
    Column("realm_id", String(50), nullable=True, index=True),
    Column("status", String(32), nullable=False),
    Column("blocked_reason", Text, nullable=True),
    Column("status_reason", Text, nullable=True),
    Column("company", JSONB, nullable=True),
    Column("expected_currency", String(3), nullable=True),
    Column("redirect_after", Text, nullable=True),
    Column("connected_at", DateTime(timezone=True), nullable=True),
    *_timestamps(),
    # One live connection per tenant: reconnecting reuses it; another company needs a disconnect first.
    Index(
        "uq_connections_live_tenant",
        "tenant_id",
        unique=True,
        postgresql_where=text("status <> 'revoked'"),
    ),
)

oauth_states = Table(
    "oauth_states",
    metadata,
    Column("state_hash", String(64), primary_key=True),
    Column(
        "connection_id",
        UUID(as_uuid=False),
        ForeignKey("auth.connections.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=True),
    # SHA-256 of the secret in the cookie of the browser that opened the consent link: the
    # callback needs that cookie, so a leaked authorize URL is useless in another browser.
    Column("browser_hash", String(64), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

tokens = Table(
    "tokens",
    metadata,
    Column(
        "connection_id",
        UUID(as_uuid=False),
        ForeignKey("auth.connections.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("access_token_ciphertext", Text, nullable=False),
    Column("refresh_token_ciphertext", Text, nullable=False),
    # The refresh token before the last rotation: Intuit honours it for a grace period, so a
    # refresh whose answer was lost elsewhere can still be recovered with it.
    Column("previous_refresh_token_ciphertext", Text, nullable=True),
    Column("access_expires_at", DateTime(timezone=True), nullable=False),
    Column("refresh_expires_at", DateTime(timezone=True), nullable=True),
    Column("refresh_hard_expires_at", DateTime(timezone=True), nullable=True),
    Column("hard_expiry_warned_at", DateTime(timezone=True), nullable=True),
    Column("key_id", String(12), nullable=False),
    # The Intuit app the tokens were issued to: only that app's credentials can refresh them.
    Column("client_id", String(200), nullable=False),
    Column("refreshed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    *_timestamps(),
)

platforms = Table(
    "platforms",
    metadata,
    Column("platform_id", String(64), primary_key=True),
    # The RabbitMQ user the product created for it (namespaced in tests), removed with it.
    Column("rabbitmq_user", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# HTTP egress (architecture §5a): a platform's endpoints, each delivery, and a row per attempt.
webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("platform_id", String(64), nullable=False, index=True),
    Column("url", Text, nullable=False),
    Column("event_types", JSONB, nullable=False),
    # The signing secret (whsec_…), encrypted like the tokens: it must be read back to sign.
    Column("secret_ciphertext", Text, nullable=False),
    Column("deleted_at", DateTime(timezone=True), nullable=True),
    *_timestamps(),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column(
        "endpoint_id",
        UUID(as_uuid=False),
        ForeignKey("auth.webhook_endpoints.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("event_id", String(200), nullable=False),
    Column("event_type", String(200), nullable=False),
    Column("envelope", JSONB, nullable=False),
    Column("status", String(16), nullable=False),  # pending, succeeded, failed (gave up)
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    *_timestamps(),
    # One delivery per event and endpoint: a redelivered event adds nothing.
    Index("uq_webhook_deliveries_endpoint_id_event_id", "endpoint_id", "event_id", unique=True),
    Index("ix_webhook_deliveries_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column(
        "delivery_id",
        UUID(as_uuid=False),
        ForeignKey("auth.webhook_deliveries.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("attempt", Integer, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("duration_ms", Integer, nullable=False),
    Column("attempted_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
