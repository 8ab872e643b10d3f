"""Summarized journal mode's I/O: the document's share stored, the day locked, its entry recomputed.

The decisions (a document's share, the day's entry) are ``service.journal_share`` and
``service.journal_day``; this module only reads and writes the ``journal_*`` tables around them, in
the event's transaction, and returns the export commands to stage.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.mapper import repository, service
from services.mapper.mapping import Target, journal
from services.mapper.reference import Reference
from services.mapper.sync_settings import SyncSettings
from shared.contracts.internal import ExportRequested


async def post(
    session: AsyncSession,
    event_type: str,
    data: Any,
    *,
    target: Target,
    settings: SyncSettings,
    reference: Reference,
    source_event_id: str,
) -> list[ExportRequested]:
    """The writes that bring the affected days' entries up to date after this document event."""
    key = journal.document_key(event_type, data)
    conn = target.connection_id
    known = await repository.lock_journal_document(session, connection_id=conn, document_key=key)
    share = service.journal_share(
        event_type,
        data,
        target=target,
        settings=settings,
        reference=reference,
        source_event_id=source_event_id,
    )
    if share is None and (known is None or known.day is None):
        # A void of a document this mode never summed: it may still be on its way (or was written as
        # a document before the mode changed); it waits for its create and ends reported as skipped.
        await repository.save_journal_document(
            session, connection_id=conn, document_key=key, day=None, share=None
        )
        return service.plan(
            event_type,
            data,
            target=target,
            settings=settings,
            reference=reference,
            source_event_id=source_event_id,
        )
    if share is not None and known is not None and known.day is None:
        raise service.voided_before(event_type)
    day: dt.date | None = data.issue_date if share is not None else None
    await repository.save_journal_document(
        session, connection_id=conn, document_key=key, day=day, share=share
    )
    days = sorted({d for d in (day, known.day if known else None) if d is not None})
    commands: list[ExportRequested] = []
    for each in days:
        commands += await _recompute(
            session,
            each,
            target=target,
            settings=settings,
            reference=reference,
            source_event_id=source_event_id,
        )
    return commands


async def _recompute(
    session: AsyncSession,
    day: dt.date,
    *,
    target: Target,
    settings: SyncSettings,
    reference: Reference,
    source_event_id: str,
) -> list[ExportRequested]:
    conn = target.connection_id
    state = await repository.lock_journal_day(session, connection_id=conn, day=day)
    shares = await repository.journal_shares(session, connection_id=conn, day=day)
    revised = service.journal_revision(state.revised_at, dt.datetime.now(dt.UTC))
    commands = service.journal_day(
        day,
        shares,
        generation=state.generation,
        target=target,
        settings=settings,
        reference=reference,
        source_event_id=source_event_id,
        revised_at=revised,
    )
    deleted = any(c.operation == "delete" for c in commands)
    generation = state.generation + 1 if deleted and state.posted else state.generation
    await repository.save_journal_day(
        session, connection_id=conn, day=day, generation=generation, posted=not deleted, revised_at=revised
    )
    return commands
