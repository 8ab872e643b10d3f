"""One platform event through the mapper: admit, wait for the company, map, and stage the outcome.

The I/O around the rules of ``service``; called in the message's transaction by the broker handler,
and again for an event that waited, when the company's lists are in (or its wait is over).
Every event ends with a row in ``platform_events``: mapped, rejected (why), skipped or waiting.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.mapper import journal_posting, models, repository, service
from services.mapper.mapping import Rejection
from services.mapper.settings import MapperSettings
from services.mapper.sync_settings import SyncSettings
from shared import tracing
from shared.contracts.codec import InvalidMessage, decode_data
from shared.contracts.envelope import Envelope
from shared.messaging import inbox
from shared.messaging.outbox import Outbox
from shared.worker import Worker

log = logging.getLogger(__name__)

PLATFORM_QUEUE = "mapper.platform-events"


async def process(
    session: AsyncSession,
    outbox: Outbox,
    envelope: Envelope,
    data: Any,
    *,
    wait_seconds: float,
    waited: bool = False,
) -> str:
    """Map one platform event to export commands; returns the outcome in a word.

    ``waited`` is set when the event is taken up again after waiting: it is mapped against whatever
    the company's lists hold by then, never held a second time.
    """
    tenant = envelope.tenantid
    known = (
        await repository.event_context(session, tenant_id=tenant, event_id=envelope.id) if tenant else None
    )
    connection = known.connection if known else None
    connection_id = connection.connection_id if connection else None
    platform_id = service.platform_id(envelope.type, data)
    settings = known.settings if known else SyncSettings()
    try:
        target = service.admit(
            envelope.type, data, tenant_id=tenant, connection=connection, settings=settings
        )
        small_lists = known.small_lists if known else None
        if service.must_wait(imported=waited or (known is not None and known.imported)):
            small_lists = None  # read before the import ended, if it just has
            if not await _imported_meanwhile(session, target.realm_id):
                until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=wait_seconds)
                await repository.record_outcome(
                    session,
                    envelope=envelope,
                    connection_id=connection_id,
                    platform_id=platform_id,
                    outcome="waiting",
                    rejection=service.WAITING_FOR_IMPORT,
                    hold_until=until,
                )
                return "waiting"
        await repository.record_used_values(
            session, connection_id=target.connection_id, values=service.used_values(data)
        )
        reference = await repository.load_reference(
            session,
            realm_id=target.realm_id,
            names=service.names_in(data, settings),
            small_lists=small_lists,
        )
        if service.summarized(envelope.type, settings):
            commands = await journal_posting.post(
                session,
                envelope.type,
                data,
                target=target,
                settings=settings,
                reference=reference,
                source_event_id=envelope.id,
            )
        else:
            commands = service.plan(
                envelope.type,
                data,
                target=target,
                settings=settings,
                reference=reference,
                source_event_id=envelope.id,
                event_time=envelope.time,
            )
    except service.Excluded as skipped:
        log.info("event skipped by settings", extra={"reason": skipped.reason, "event_type": envelope.type})
        await repository.record_outcome(
            session,
            envelope=envelope,
            connection_id=connection_id,
            platform_id=platform_id,
            outcome="skipped",
            rejection=Rejection("excluded_by_settings", skipped.reason),
        )
        return "skipped"
    except Rejection as rejection:
        await reject(session, outbox, envelope, data, rejection, connection_id=connection_id)
        return "rejected"
    # A bulk line's writes go in the realm's history lane: the exporter takes them after its live ones.
    history = known is not None and known.in_batch
    for command in service.in_lane(commands, history=history):
        await outbox.add(
            "qbo.export.requested", command, realm_id=target.realm_id, subject=command.platform_id
        )
    await repository.record_outcome(
        session, envelope=envelope, connection_id=connection_id, platform_id=platform_id, outcome="mapped"
    )
    return "mapped"


async def _imported_meanwhile(session: AsyncSession, realm_id: str) -> bool:
    """Whether the company's import ended after this event's context was read (checked under the
    lock its end takes, so an event is never held after the release of the held ones)."""
    await repository.lock_import_state(session, realm_id=realm_id)
    return await repository.reference_imported(session, realm_id=realm_id)


async def reject(
    session: AsyncSession,
    outbox: Outbox,
    envelope: Envelope,
    data: Any,
    rejection: Rejection,
    *,
    connection_id: str | None,
) -> None:
    """Stage ``sync.rejected`` for the platform, naming every problem, and record it.

    The event is forgotten by the inbox: the rejection tells the platform to fix the cause and send
    it again, and the same id must then be processed afresh, not dropped as a duplicate.
    """
    event = service.rejected(
        envelope.type, data, source_event_id=envelope.id, rejection=rejection, connection_id=connection_id
    )
    log.info("event rejected", extra={"code": rejection.code, "reason": rejection.message[:500]})
    await outbox.add("sync.rejected", event, tenant_id=envelope.tenantid)
    for consumer in (PLATFORM_QUEUE, repository.HTTP_RECEIVED):
        await inbox.release(session, models.inbox, consumer=consumer, message_id=envelope.dedup_key)
    await repository.record_outcome(
        session,
        envelope=envelope,
        connection_id=connection_id,
        platform_id=service.platform_id(envelope.type, data),
        outcome="rejected",
        rejection=rejection,
    )


async def release_held(
    session: AsyncSession, held: list[Envelope], *, outbox_table: Any = models.outbox
) -> int:
    """Map events that waited (the company's lists are in, or their wait is over); returns how many."""
    for envelope in held:
        # Its commands continue the platform's trace of the event, not the one of what released it.
        with tracing.resumed_span(envelope, name=f"{envelope.type} taken up"):
            await _take_up(session, Outbox(session, outbox_table, cause=envelope), envelope)
    return len(held)


async def _take_up(session: AsyncSession, outbox: Outbox, envelope: Envelope) -> None:
    try:
        data = decode_data(envelope)
    except InvalidMessage as exc:  # a contract change while it waited: refuse it in words
        await reject(
            session,
            outbox,
            envelope,
            envelope.data,
            service.invalid(exc.summary, exc.problems),
            connection_id=None,
        )
        return
    outcome = await process(session, outbox, envelope, data, wait_seconds=0, waited=True)
    log.info("held event taken up", extra={"event_id": envelope.id, "outcome": outcome})


async def run_release_overdue(
    sessionmaker: async_sessionmaker[AsyncSession], settings: MapperSettings
) -> None:
    """Until cancelled: events whose wait is over are mapped against the lists there are."""

    async def step() -> bool:
        async with sessionmaker() as session, session.begin():
            return await release_held(session, await repository.take_held(session, overdue=True)) > 0

    await Worker(name="overdue held events", step=step, poll_seconds=settings.held_poll_seconds).run()
