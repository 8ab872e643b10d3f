"""``connection.settings_changed``: staged with every save of a connection's settings, and by the
mapper itself for settings no save announced (stored by a version before the event existed), so
the read path's copy never keeps defaults for a connection that has settings.

Both go through the outbox in the transaction that marks the version announced; the read path
keeps the highest version it has seen, so announcing one twice changes nothing.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.mapper import models, repository, service
from services.mapper.settings import MapperSettings
from shared.contracts.internal import ConnectionSettingsChanged
from shared.messaging.outbox import Outbox
from shared.worker import Worker

log = logging.getLogger(__name__)


async def announce(session: AsyncSession, *, tenant_id: str, settings: ConnectionSettingsChanged) -> None:
    """Stage ``connection.settings_changed`` in the caller's transaction."""
    await Outbox(session, models.outbox).add("connection.settings_changed", settings, tenant_id=tenant_id)


async def announce_unannounced(session: AsyncSession, *, limit: int) -> int:
    """Announce the current settings of up to ``limit`` connections no event announced; how many."""
    rows = await repository.take_unannounced_settings(session, limit=limit)
    for row in rows:
        announced = service.stored_read_path_settings(row.connection_id, row.version, row.body)
        if announced is None:
            # Marked all the same: retried on every step, it would keep its chunk from moving on.
            log.warning(
                "stored settings are not valid; not announced",
                extra={
                    "connection_id": row.connection_id,
                    "tenant_id": row.tenant_id,
                    "version": row.version,
                },
            )
            continue
        await announce(session, tenant_id=row.tenant_id, settings=announced)
    await repository.mark_settings_announced(session, connection_ids=[r.connection_id for r in rows])
    if rows:
        log.info("settings announced for the read path", extra={"connections": len(rows)})
    return len(rows)


async def run_catch_up(sessionmaker: async_sessionmaker[AsyncSession], settings: MapperSettings) -> None:
    """Until cancelled: at start, then every long poll, settings no event announced are announced
    (the poll covers a replica of an older version saving settings during a rolling upgrade)."""
    chunk = settings.settings_announce_chunk

    async def step() -> bool:
        async with sessionmaker() as session, session.begin():
            return await announce_unannounced(session, limit=chunk) == chunk

    poll = settings.settings_announce_poll_seconds
    await Worker(name="settings announcements", step=step, poll_seconds=poll).run()
