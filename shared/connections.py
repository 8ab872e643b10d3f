"""A service's local view of connections, kept current from ``connection.*`` events.

Mapper, exporter and webhooks each need to know, without calling auth, which connections exist,
their realm and whether they may be used; each keeps this table in its own schema.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Column, DateTime, MetaData, String, Table, func, select
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

CONNECTION_EVENTS = (
    "connection.established",
    "connection.profile_changed",
    "connection.reauthorization_required",
    "connection.revoked",
)
_STATUS: dict[str, str] = {
    "ConnectionEstablished": "active",
    "ConnectionProfileChanged": "active",
    "ConnectionReauthorizationRequired": "reauthorization_required",
    "ConnectionRevoked": "revoked",
}


def make_connections_table(metadata: MetaData) -> Table:
    """``connections`` in the calling service's schema."""
    return Table(
        "connections",
        metadata,
        Column("connection_id", String(64), primary_key=True),
        Column("tenant_id", String(200), nullable=False, index=True),
        Column("realm_id", String(50), nullable=False, index=True),
        Column("status", String(40), nullable=False),
        Column("company", JSONB, nullable=True),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


async def apply_connection_event(
    session: AsyncSession, table: Table, data: Any, *, occurred_at: dt.datetime | None = None
) -> str:
    """Apply a ``connection.*`` model to the connection it speaks of; returns its status now.

    Retries and parallel consumers can deliver these out of order, so an event older than the
    state already recorded (by ``occurred_at``, the event's time) changes nothing: a late
    ``connection.established`` never revives a connection revoked after it.
    """
    status = _STATUS[type(data).__name__]
    values: dict[str, Any] = {
        "connection_id": data.connection_id,
        "tenant_id": data.tenant_id,
        "realm_id": data.realm_id,
        "status": status,
        "updated_at": occurred_at or func.now(),
    }
    company = getattr(data, "company", None)
    if company is not None:
        values["company"] = company.model_dump(mode="json")
    stmt = insert(table).values(**values)
    newer = {k: stmt.excluded[k] for k in values if k != "connection_id"}
    applied = await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["connection_id"], set_=newer, where=table.c.updated_at <= stmt.excluded.updated_at
        ).returning(table.c.status)
    )
    row = applied.first()
    if row is not None:
        return str(row.status)
    current = await connection_status(session, table, connection_id=data.connection_id)
    return current or status


async def connection_status(session: AsyncSession, table: Table, *, connection_id: str) -> str | None:
    """The last known status of a connection, or None if this service never heard of it."""
    result = await session.execute(select(table.c.status).where(table.c.connection_id == connection_id))
    return result.scalar_one_or_none()


async def connection_statuses(
    session: AsyncSession, table: Table, *, connection_ids: Iterable[str]
) -> dict[str, str]:
    """``connection_status`` of several connections in one query (those this service knows)."""
    wanted = sorted(set(connection_ids))
    if not wanted:
        return {}
    result = await session.execute(
        select(table.c.connection_id, table.c.status).where(table.c.connection_id.in_(wanted))
    )
    return {row.connection_id: row.status for row in result}
