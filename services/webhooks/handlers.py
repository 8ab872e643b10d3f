"""Broker subscriptions of the webhooks service."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from services.webhooks import models, repository, service
from services.webhooks.deps import WebhooksDeps
from shared.apikeys import API_KEY_EVENTS, apply_key_event
from shared.connections import CONNECTION_EVENTS, apply_connection_event
from shared.contracts.bridge import SyncSucceeded
from shared.contracts.common import Contract
from shared.contracts.internal import ConnectionEstablished, ConnectionSettingsChanged
from shared.messaging.router import OUTCOMES_LINGER, Context, Router

log = logging.getLogger(__name__)
router = Router()


@router.subscribe(queue="webhooks.connections", routing_keys=CONNECTION_EVENTS)
async def on_connection_event(data: Contract, ctx: Context[WebhooksDeps]) -> None:
    """connection.* → this service's view of the connection; once active, catch up on its realm."""
    status = await apply_connection_event(
        ctx.session, models.connections, data, occurred_at=ctx.envelope.time
    )
    log.info("connection updated", extra={"status": status, "event_type": ctx.envelope.type})
    if status != "active":
        return
    connection_id, realm_id = data.connection_id, data.realm_id  # type: ignore[attr-defined]
    released = await repository.release_realm(ctx.session, realm_id=realm_id)
    await repository.schedule_cdc(ctx.session, connection_id=connection_id, changed_since=datetime.now(UTC))
    if type(data) is ConnectionEstablished:
        await repository.create_import_job(ctx.session, connection_id=connection_id, kind="import")
    log.info("connection active: CDC due, import requested", extra={"released_changes": released})


@router.subscribe_batches(
    queue="webhooks.sync-results", routing_keys=["sync.succeeded"], linger=OUTCOMES_LINGER
)
async def on_sync_succeeded(results: list[tuple[SyncSucceeded, Context[WebhooksDeps]]]) -> None:
    """sync.succeeded → remember what we wrote (echo suppression) and which platform document it is;
    a batch of them at a time, with one statement for the writes and one for the documents."""
    if not results:
        return
    session = results[0][1].session
    writes, documents = [], []
    for data, ctx in results:
        entity = service.entity_of_object_type(data.object_type)
        connection_id = data.connection_id
        if connection_id is None and ctx.envelope.tenantid:
            connection_id = await repository.active_connection_of_tenant(
                session, tenant_id=ctx.envelope.tenantid
            )
        if entity is None or connection_id is None or data.qbo_id is None:
            log.warning(
                "sync.succeeded without a known entity or connection", extra={"object": data.object_type}
            )
            continue
        if data.qbo_sync_token is not None and data.qbo_sync_token.isdigit():
            writes.append(repository.OwnWrite(connection_id, entity, data.qbo_id, int(data.qbo_sync_token)))
        if entity in service.LINKED_DOCUMENTS:
            documents.append(repository.DocumentLink(connection_id, entity, data.qbo_id, data.platform_id))
    await repository.record_own_writes(session, writes=writes)
    await repository.record_document_links(session, links=documents)


@router.subscribe(queue="webhooks.settings", routing_keys=["connection.settings_changed"])
async def on_settings_changed(data: ConnectionSettingsChanged, ctx: Context[WebhooksDeps]) -> None:
    """connection.settings_changed → which categories' changes the read path tells the platform."""
    await repository.save_read_settings(ctx.session, settings=data)
    log.info(
        "read-path settings updated", extra={"connection_id": data.connection_id, "version": data.version}
    )


@router.subscribe(queue="webhooks.api-keys", routing_keys=API_KEY_EVENTS)
async def on_api_key_event(data: Contract, ctx: Context[WebhooksDeps]) -> None:
    """tenant.api_key_* → this service's mirror of key hashes, used to authenticate platforms."""
    await apply_key_event(ctx.session, models.api_keys, data)
