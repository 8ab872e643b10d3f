"""The background processor: stored webhook bodies → changes → entities fetched → events.

Runs beside the receiver in every replica; rows are claimed with ``FOR UPDATE SKIP LOCKED`` so
replicas share the work and never do the same change twice. The receiver never waits for this.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.webhooks import publishing, repository, service
from services.webhooks.deps import WebhooksDeps
from services.webhooks.payloads import Change, MalformedPayload, parse_body
from services.webhooks.repository import AnyRow
from shared.db import asyncpg_dsn
from shared.errors import ParkedError, PermanentError
from shared.http import Resources
from shared.logging import log_context
from shared.worker import Worker

log = logging.getLogger(__name__)

UNKNOWN_REALM = Counter("qbb_webhooks_unknown_realm_total", "Changes for a realm no connection has")
GIVE_UP_AFTER = 12
# A creation held back for the exporter's word is looked at again after a second, then after as
# long as it has waited (1, 2, 4 s ...), until the wait is over.
ECHO_RECHECK = timedelta(seconds=1)
# An entity the exporter wrote to a company within this time is being written: its creations wait.
WRITING_LATELY = timedelta(minutes=10)
PRUNE_EVERY = timedelta(hours=1)
MAX_RETRY_DELAY = timedelta(minutes=30)


async def run_processor(res: Resources, deps: WebhooksDeps) -> None:
    """Process stored notifications until cancelled; woken by NOTIFY, polling as a fallback."""

    async def step() -> bool:
        return await process_once(res.sessionmaker, deps) > 0

    await Worker(
        name="webhook processor",
        step=step,
        poll_seconds=deps.settings.processor_poll_seconds,
        dsn=asyncpg_dsn(res.settings.database_url),
        channel=repository.NOTIFY_CHANNEL,
    ).run()


async def run_housekeeping(res: Resources, deps: WebhooksDeps) -> None:
    """Every hour, forget handled deliveries and changes older than ``retention_days``."""

    async def step() -> bool:
        async with res.sessionmaker() as session, session.begin():
            await repository.prune(session, older_than=timedelta(days=deps.settings.retention_days))
        return False

    every = PRUNE_EVERY.total_seconds()
    # A failed prune is tried again at the next hour too: nothing waits for it.
    await Worker(name="webhook housekeeping", step=step, poll_seconds=every, backoff=(every, every)).run()


async def process_once(sessionmaker: async_sessionmaker[AsyncSession], deps: WebhooksDeps) -> int:
    """One round: split stored bodies into changes, then handle the changes that are due."""
    limit = deps.settings.processor_batch_size
    async with sessionmaker() as session, session.begin():
        expanded = await expand_deliveries(session, limit=limit)
    async with sessionmaker() as session, session.begin():
        rows = await repository.claim_due_changes(session, limit=limit)
        by_realm: dict[str, list[AnyRow]] = {}
        for row in rows:
            by_realm.setdefault(row.realm_id, []).append(row)
        for realm_id, realm_rows in by_realm.items():
            with log_context(realm_id=realm_id):
                await _process_realm(session, deps, realm_id, realm_rows)
    return expanded + len(rows)


async def expand_deliveries(session: AsyncSession, *, limit: int) -> int:
    """Split stored webhook bodies into one row per change (a change seen before is skipped)."""
    deliveries = await repository.claim_deliveries(session, limit=limit)
    for delivery in deliveries:
        try:
            _, changes = parse_body(delivery.body.encode())
        except MalformedPayload as exc:  # the receiver checked it; only a changed parser gets here
            log.error("stored webhook body no longer parses", extra={"problems": exc.problems})
            changes = []
        added = await repository.add_changes(session, delivery_id=delivery.id, changes=changes)
        await repository.mark_expanded(session, delivery_id=delivery.id, change_count=added)
    return len(deliveries)


async def _process_realm(
    session: AsyncSession, deps: WebhooksDeps, realm_id: str, rows: list[AnyRow]
) -> None:
    conns = await repository.connections_for_realm(session, realm_id=realm_id)
    active = [c for c in conns if c.status == "active"]
    ids = [r.id for r in rows]
    if not conns:
        UNKNOWN_REALM.inc(len(rows))
        log.warning("webhook for a realm no connection has; kept", extra={"changes": len(rows)})
        await repository.finish_changes(session, ids=ids, status="unknown_realm")
        return
    if not active:
        await repository.finish_changes(session, ids=ids, status="waiting_connection")
        return
    ignored = [r.id for r in rows if not service.is_published(r.entity)]
    await repository.finish_changes(session, ids=ignored, status="ignored", outcome="entity not published")
    wanted = [r for r in rows if service.is_published(r.entity)]
    if wanted:
        await _apply(session, deps, active, wanted)


async def _apply(
    session: AsyncSession, deps: WebhooksDeps, active: Sequence[AnyRow], rows: list[AnyRow]
) -> None:
    ids = [r.id for r in rows]
    try:
        async with session.begin_nested():  # a failure undoes this realm's partial effects only
            outcomes, held = await _report(session, deps, active, rows)
    except ParkedError as exc:
        await repository.finish_changes(session, ids=ids, status="waiting_connection", error=str(exc))
        return
    except PermanentError as exc:
        log.error("QBO refused to give the changed entities", extra={"error": str(exc)})
        await repository.finish_changes(session, ids=ids, status="failed", error=str(exc))
        return
    except Exception as exc:  # noqa: BLE001 - timeouts, throttles, 5xx: try again later
        log.warning("fetching changed entities failed; will retry", extra={"error": repr(exc)})
        delay = min(MAX_RETRY_DELAY, timedelta(seconds=5 * 2 ** min(rows[0].attempts, 10)))
        await repository.retry_changes(
            session, ids=ids, error=repr(exc), delay=delay, give_up_after=GIVE_UP_AFTER
        )
        return
    waiting = [r.id for r in rows if (r.entity, r.qbo_id) in held]
    await repository.postpone_changes(
        session, ids=waiting, least=ECHO_RECHECK, until=timedelta(seconds=deps.settings.echo_wait_seconds)
    )
    by_outcome: dict[str, list[int]] = {}
    for row in rows:
        if (row.entity, row.qbo_id) not in held:
            by_outcome.setdefault(outcomes.get((row.entity, row.qbo_id), "stale"), []).append(row.id)
    for outcome, done in sorted(by_outcome.items()):  # one statement an outcome, not one a change
        await repository.finish_changes(session, ids=done, status="done", outcome=outcome)


async def _report(
    session: AsyncSession, deps: WebhooksDeps, active: Sequence[AnyRow], rows: list[AnyRow]
) -> tuple[dict[tuple[str, str], str], set[tuple[str, str]]]:
    """What became of each object the rows name, and the objects held back for the exporter's word."""
    changes = [
        Change(r.realm_id, r.entity, r.qbo_id, r.operation, r.occurred_at, None, r.deleted_id) for r in rows
    ]
    plans = service.plan_changes(changes)
    echoes = await _own_creations(session, active, plans)
    held = await _awaiting_word(session, deps, active, plans, echoes, rows)
    plans = [p for p in plans if p not in held]
    fetched = await _fetch(deps, active[0].connection_id, [p for p in plans if p.fetch and p not in echoes])
    outcomes = await publishing.report_own_creations(
        session, realm_id=active[0].realm_id, keys=[(p.entity, p.qbo_id) for p in echoes]
    )
    for plan in plans:
        key = (plan.entity, plan.qbo_id)
        if plan in echoes:
            continue
        if not plan.fetch:
            outcomes[key] = await publishing.report_deletion(
                session, connections=active, entity=plan.entity, qbo_id=plan.qbo_id
            )
        elif (data := fetched.get(key)) is None:
            outcomes[key] = "not_found"  # deleted since, or not visible to this app; its Delete follows
        else:
            outcomes[key] = await publishing.report_object(
                session, connections=active, entity=plan.entity, entity_data=data, operation=plan.operation
            )
    return outcomes, {(p.entity, p.qbo_id) for p in held}


async def _awaiting_word(
    session: AsyncSession,
    deps: WebhooksDeps,
    active: Sequence[AnyRow],
    plans: Sequence[service.Plan],
    echoes: Sequence[service.Plan],
    rows: Sequence[AnyRow],
) -> list[service.Plan]:
    """The creations held back until the exporter's word of them can come (``service.awaiting_word``)."""
    wait = timedelta(seconds=deps.settings.echo_wait_seconds)
    young = {(r.entity, r.qbo_id) for r in rows if r.age < wait}
    candidates = service.awaiting_word(plans, echoes=echoes, young=young, written=None)
    if not candidates:
        return []  # nothing to hold, whatever the company writes: no question asked
    written = await repository.written_lately(
        session,
        connection_ids=[c.connection_id for c in active],
        entities=sorted({p.entity for p in candidates}),
        within=WRITING_LATELY,
    )
    return service.awaiting_word(candidates, echoes=echoes, young=young, written=written)


async def _own_creations(
    session: AsyncSession, active: Sequence[AnyRow], plans: Sequence[service.Plan]
) -> list[service.Plan]:
    """The plans that are our own creations coming back: recognised without reading QBO."""
    ids = [c.connection_id for c in active]
    keys = [(p.entity, p.qbo_id) for p in plans if p.created_only]
    created_by = await repository.own_creations(session, connection_ids=ids, keys=keys)
    return service.own_creations(plans, connection_ids=ids, created_by=created_by)


async def _fetch(
    deps: WebhooksDeps, connection_id: str, plans: Sequence[service.Plan]
) -> dict[tuple[str, str], dict[str, Any]]:
    """The current objects, several ids of one entity per query."""
    ids: dict[str, list[str]] = {}
    for plan in plans:
        ids.setdefault(plan.entity, []).append(plan.qbo_id)
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for entity, entity_ids in ids.items():
        for statement in service.ids_queries(entity, entity_ids):
            answer = await deps.qbo.query(connection_id, statement)
            for obj in answer.get(entity, []):
                found[(entity, str(obj.get("Id")))] = obj
    return found
