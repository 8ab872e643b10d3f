"""One platform event through the mapper: admit, record what it uses, map, and stage the outcome.

The I/O around the rules of ``service``; called by the broker handler in the message's transaction.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.mapper import repository, service
from services.mapper.mapping import Rejection
from services.mapper.sync_settings import SyncSettings
from shared.contracts.envelope import Envelope
from shared.messaging.outbox import Outbox

log = logging.getLogger(__name__)


async def process(session: AsyncSession, outbox: Outbox, envelope: Envelope, data: Any) -> str:
    """Map one admitted platform event to export commands; returns the outcome in a word."""
    tenant = envelope.tenantid
    connection = await repository.connection_for_tenant(session, tenant_id=tenant) if tenant else None
    settings = SyncSettings()
    if connection is not None:
        settings = (await repository.load_settings(session, connection_id=connection.connection_id))[1]
    try:
        target = service.admit(
            envelope.type, data, tenant_id=tenant, connection=connection, settings=settings
        )
        await repository.record_used_values(
            session, connection_id=target.connection_id, values=service.used_values(data)
        )
        reference = await repository.load_reference(
            session, realm_id=target.realm_id, names=service.names_in(data, settings)
        )
        commands = service.plan(
            envelope.type,
            data,
            target=target,
            settings=settings,
            reference=reference,
            source_event_id=envelope.id,
        )
    except service.Excluded as skipped:
        log.info("event skipped by settings", extra={"reason": skipped.reason, "event_type": envelope.type})
        return "skipped"
    except Rejection as rejection:
        await reject(
            outbox, envelope, data, rejection, connection_id=connection.connection_id if connection else None
        )
        return "rejected"
    for command in commands:
        await outbox.add(
            "qbo.export.requested", command, realm_id=target.realm_id, subject=command.platform_id
        )
    return "mapped"


async def reject(
    outbox: Outbox, envelope: Envelope, data: Any, rejection: Rejection, *, connection_id: str | None
) -> None:
    """Stage ``sync.rejected`` for the platform, naming every problem."""
    event = service.rejected(
        envelope.type, data, source_event_id=envelope.id, rejection=rejection, connection_id=connection_id
    )
    log.info("event rejected", extra={"code": rejection.code, "reason": rejection.message[:500]})
    await outbox.add("sync.rejected", event, tenant_id=envelope.tenantid)
