"""Tables of the ``exporter`` schema."""

from __future__ import annotations

from shared.apikeys import make_api_keys_table
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
