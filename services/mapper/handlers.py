"""Broker subscriptions of the mapper service."""

from __future__ import annotations

import logging
from typing import Any

from services.mapper import batch_repository, ingest, models, platforms, repository, service
from services.mapper.mapping import Rejection
from services.mapper.reference import MIRRORED
from services.mapper.settings import MapperSettings
from shared.apikeys import API_KEY_EVENTS, apply_key_event, platform_of_tenant
from shared.connections import CONNECTION_EVENTS, apply_connection_event
from shared.contracts import PLATFORM_EVENTS, changed_type
from shared.contracts.bridge import QboEntityChanged, SyncFailed, SyncSucceeded
from shared.contracts.codec import InvalidMessage
from shared.contracts.common import Contract
from shared.contracts.envelope import Envelope
from shared.contracts.internal import ReferenceImported
from shared.errors import RetryableError
from shared.messaging.outbox import Outbox
from shared.messaging.router import Context, Router

log = logging.getLogger(__name__)
router = Router()


async def _rejected_as_invalid(
    envelope: Envelope, error: InvalidMessage, ctx: Context[MapperSettings]
) -> None:
    """A platform event whose data breaks its contract → sync.rejected with every problem and path."""
    rejection = service.invalid(error.summary, error.problems)
    envelope, outbox = _as_published(ctx, envelope)
    batch = ingest.Batch()
    await ingest.reject(
        ctx.session, outbox, envelope, envelope.data, rejection, connection_id=None, batch=batch
    )
    await batch.flush(ctx.session)


async def _rejected_after_retries(envelope: Envelope, reason: str, ctx: Context[MapperSettings]) -> None:
    """A platform event the mapper kept failing on → sync.rejected (retryable) so the platform knows."""
    # ``reason`` (an exception's text) stays in the logs and the dead-letter queue's headers.
    rejection = Rejection(
        "mapper_failed",
        "the bridge could not process the event after several attempts",
        hint="the operators were alerted (dead-letter queue); send the event again later",
    )
    event = service.rejected(
        envelope.type, envelope.data, source_event_id=envelope.id, rejection=rejection, retryable=True
    )
    envelope, outbox = _as_published(ctx, envelope)
    await outbox.add("sync.rejected", event, tenant_id=envelope.tenantid)
    # Recorded like every other rejection, or the tenant's history would miss it (issue 14).
    await repository.record_outcome(
        ctx.session,
        envelope=envelope,
        connection_id=None,
        platform_id=service.platform_id(envelope.type, envelope.data),
        outcome="rejected",
        rejection=rejection,
    )


def _as_published(ctx: Context[Any], envelope: Envelope) -> tuple[Envelope, Outbox]:
    """The event stamped with the platform that published it (from the broker-checked routing key),
    and an outbox whose events go back to that platform only, also when the event never decoded."""
    platform = platforms.publishing_platform(ctx.routing_key, envelope.type)
    if platform is None:
        return envelope, ctx.outbox
    stamped = envelope.model_copy(update={"platformid": platform})
    return stamped, ctx.outbox.caused_by(stamped)


async def _admit(ctx: Context[MapperSettings], batch: ingest.Batch) -> tuple[Envelope, Outbox] | None:
    """The event and outbox to map with, or None when its publishing platform does not own its tenant."""
    platform = platforms.publishing_platform(ctx.routing_key, ctx.envelope.type)
    if platform is None:
        return ctx.envelope, ctx.outbox
    # Its outcomes go to the platform that published it, and only to it: stamped here, never from the body.
    envelope = ctx.envelope.model_copy(update={"platformid": platform})
    outbox = ctx.outbox.caused_by(envelope)
    owner = await platform_of_tenant(ctx.session, models.api_keys, envelope.tenantid)
    refused = platforms.refusal(platform=platform, owner=owner, tenant_id=envelope.tenantid)
    if refused is None:
        return envelope, outbox
    # The refusal forgets the id (see ingest.reject): it must not use up the tenant's real event.
    await ingest.reject(
        ctx.session, outbox, envelope, envelope.data, refused, connection_id=None, batch=batch
    )
    return None


@router.subscribe_batches(
    queue=platforms.INGRESS_QUEUE,
    routing_keys=PLATFORM_EVENTS,
    ingress_keys=platforms.ingress_keys(PLATFORM_EVENTS),
    on_give_up=_rejected_after_retries,
    on_invalid=_rejected_as_invalid,
)
async def on_platform_events(events: list[tuple[Contract, Context[MapperSettings]]]) -> None:
    """Platform events → qbo.export.requested commands in dependency order, sync.rejected, or held
    until its company's lists are imported; refused when its platform does not own its tenant.
    A batch at a time: the events' contexts and named reference objects are read once for all of
    them, and their outcomes written in one statement."""
    if not events:
        return
    session, batch = events[0][1].session, ingest.Batch()
    admitted = []
    for data, ctx in events:
        with ctx.as_the_message():
            if (found := await _admit(ctx, batch)) is not None:
                admitted.append((*found, data, ctx))
    await batch.read(session, [(envelope, data) for envelope, _, data, _ in admitted])
    for envelope, outbox, data, ctx in admitted:
        wait = ctx.deps.reference_wait_seconds if ctx.deps is not None else 0.0
        with ctx.as_the_message():
            outcome = await ingest.process(session, outbox, envelope, data, wait_seconds=wait, batch=batch)
            log.info("platform event handled", extra={"outcome": outcome, "event_type": envelope.type})
    await batch.flush(session)


# A bulk batch's lines (POST /v1/events/bulk) come through their own queue, so a live event never
# waits behind a batch: the same handler, a small window, and the live queue's inbox name (an event
# sent both ways has one effect). Internal: bound to no exchange, only the outbox relay feeds it.
router.subscribe_batches(
    queue=platforms.HISTORY_QUEUE,
    routing_keys=(),
    on_give_up=_rejected_after_retries,
    on_invalid=_rejected_as_invalid,
    inbox_name=platforms.INGRESS_QUEUE,
    prefetch=platforms.HISTORY_PREFETCH,
    lane="history",
)(on_platform_events)


@router.subscribe(
    queue="mapper.reference",
    routing_keys=[*(changed_type(e) for e in sorted(MIRRORED)), "qbo.reference.imported"],
)
async def on_reference_changed(data: QboEntityChanged | ReferenceImported, ctx: Context[None]) -> None:
    """qbo.<entity>.changed → the company's reference mirror (upsert, or removal on Delete);
    qbo.reference.imported → the company's held events mapped against it."""
    if isinstance(data, ReferenceImported):
        await _reference_imported(data, ctx)
        return
    realm_id = data.realm_id or ctx.envelope.realmid
    if realm_id is None and data.connection_id:
        found = await repository.connection_by_id(ctx.session, connection_id=data.connection_id)
        realm_id = found.realm_id if found else None
    if realm_id is None:
        log.warning("reference change without a realm ignored", extra={"entity": data.entity})
        return
    body = None if data.operation == "Delete" or data.entity_data is None else data.entity_data
    await repository.apply_reference_change(
        ctx.session, realm_id=realm_id, entity=data.entity, qbo_id=data.qbo_id, data=body
    )


async def _reference_imported(data: ReferenceImported, ctx: Context[None]) -> None:
    # Changes and this event share a queue but may be handled side by side: wait until the mirror
    # holds what the import published (a retry), so held events never map against half a list.
    missing = await repository.missing_from_mirror(ctx.session, realm_id=data.realm_id, counts=data.counts)
    if missing and ctx.attempt <= 3:
        raise RetryableError(f"reference mirror still lacks {missing}", code="mirror_behind")
    await repository.mark_imported(
        ctx.session,
        realm_id=data.realm_id,
        connection_id=data.connection_id,
        status=data.status,
        counts=data.counts,
    )
    held = await repository.take_held(ctx.session, realm_id=data.realm_id)
    released = await ingest.release_held(ctx.session, held)
    log.info("reference import ended", extra={"status": data.status, "released": released})


@router.subscribe(queue="mapper.connections", routing_keys=CONNECTION_EVENTS)
async def on_connection_event(data: Contract, ctx: Context[None]) -> None:
    """connection.* → this service's view of the connection (active, reauthorization needed, revoked)."""
    status = await apply_connection_event(
        ctx.session, models.connections, data, occurred_at=ctx.envelope.time
    )
    log.info("connection updated", extra={"status": status, "event_type": ctx.envelope.type})


@router.subscribe(queue="mapper.api-keys", routing_keys=API_KEY_EVENTS)
async def on_api_key_event(data: Contract, ctx: Context[None]) -> None:
    """tenant.api_key_* → this service's mirror of key hashes, used to authenticate platforms."""
    await apply_key_event(ctx.session, models.api_keys, data)


def _of_a_bulk_line(envelope: Envelope) -> bool:
    """Whether an outcome is of a write in the history lane (a bulk batch's line): only those count
    for a batch, so a live write's outcome is passed over before any transaction."""
    return envelope.lane == "history" and envelope.tenantid is not None


@router.subscribe(
    queue="mapper.sync-results", routing_keys=["sync.succeeded", "sync.failed"], takes=_of_a_bulk_line
)
async def on_sync_result(data: SyncSucceeded | SyncFailed, ctx: Context[None]) -> None:
    """sync.succeeded/sync.failed of a bulk batch's line → its outcome in the batch (the bridge counts)."""
    tenant = ctx.envelope.tenantid
    assert tenant is not None
    outcome = "failed" if isinstance(data, SyncFailed) else "succeeded"
    await batch_repository.record_export_outcome(
        ctx.session,
        tenant_id=tenant,
        event_id=data.source_event_id,
        object_type=data.object_type,
        outcome=outcome,
    )
