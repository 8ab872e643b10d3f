"""What webhooks miss: CDC catch-up per connection, and reference imports (``Import``/``Update``).

Both run in the background of every replica; a connection's watermark row and an import job are
claimed with ``FOR UPDATE SKIP LOCKED``, so each runs once at a time across replicas.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.webhooks import models, publishing, repository, service
from services.webhooks.deps import WebhooksDeps
from services.webhooks.repository import AnyRow
from shared.contracts.internal import ReferenceImported
from shared.errors import ParkedError, PermanentError
from shared.http import Resources
from shared.logging import log_context
from shared.messaging.outbox import Outbox
from shared.worker import Worker

log = logging.getLogger(__name__)

IDLE_SECONDS = 2.0
CDC_RETRY = timedelta(minutes=1)
IMPORT_RETRY = timedelta(minutes=1)
IMPORT_STALE = timedelta(minutes=5)
PAGE = 200


async def run_cdc(res: Resources, deps: WebhooksDeps) -> None:
    """CDC for every connection: once at start, then every ``cdc_interval_seconds``; until cancelled."""
    async with res.sessionmaker() as session, session.begin():
        await repository.schedule_all_cdc(session)

    async def step() -> bool:
        return await cdc_once(res.sessionmaker, deps)

    await Worker(name="CDC catch-up", step=step, poll_seconds=_idle(deps)).run()


def _idle(deps: WebhooksDeps) -> float:
    """How long CDC and imports wait, when nothing is due, before they look again."""
    return min(IDLE_SECONDS, deps.settings.processor_poll_seconds)


async def cdc_once(sessionmaker: async_sessionmaker[AsyncSession], deps: WebhooksDeps) -> bool:
    """CDC for one connection that is due; False when none is."""
    async with sessionmaker() as session, session.begin():
        due = await repository.claim_due_cdc(session)
        if due is None:
            return False
        with log_context(connection_id=due.connection_id, realm_id=due.realm_id):
            await _catch_up(session, deps, due)
    return True


async def _catch_up(session: AsyncSession, deps: WebhooksDeps, due: AnyRow) -> None:
    started = datetime.now(UTC)
    interval = timedelta(seconds=deps.settings.cdc_interval_seconds)
    if service.cdc_step(due.changed_since, started) == "reimport":
        log.warning("CDC gap longer than 30 days; full re-import", extra={"since": str(due.changed_since)})
        await repository.create_import_job(session, connection_id=due.connection_id, kind="import")
        await _finish(session, due, service.next_watermark(started), interval, published=0, error=None)
        return
    try:
        async with session.begin_nested():
            cutoff = started - timedelta(seconds=deps.settings.cdc_settle_seconds)
            published = await _cdc(session, deps, due, cutoff)
    except (ParkedError, PermanentError) as exc:
        await _finish(session, due, due.changed_since, interval, published=None, error=str(exc))
        return
    except Exception as exc:  # noqa: BLE001 - transient: the watermark stays, try again soon
        log.warning("CDC failed; will retry", extra={"error": repr(exc)})
        await _finish(
            session, due, due.changed_since, min(interval, CDC_RETRY), published=None, error=repr(exc)
        )
        return
    log.info("CDC caught up", extra={"published": published})
    await _finish(session, due, service.next_watermark(started), interval, published=published, error=None)


async def _finish(
    session: AsyncSession,
    due: AnyRow,
    changed_since: datetime,
    next_in: timedelta,
    *,
    published: int | None,
    error: str | None,
) -> None:
    await repository.finish_cdc(
        session,
        connection_id=due.connection_id,
        changed_since=changed_since,
        next_in=next_in,
        published=published,
        error=error,
    )


async def _cdc(session: AsyncSession, deps: WebhooksDeps, due: AnyRow, cutoff: datetime) -> int:
    entities = [e for e in deps.settings.cdc_entities if service.is_published(e)]
    result = await deps.qbo.cdc(due.connection_id, entities, due.changed_since)
    if service.capped(result):
        result = await _uncapped(deps, due, entities)
    published = 0
    for entity, objects in result.items():
        for obj in objects:
            if service.settled(obj, cutoff):
                # withheld: published for the bridge's services, kept from the platform
                outcome = await _report_cdc_object(session, due, entity, obj)
                published += outcome in ("published", "withheld")
    return published


async def _uncapped(
    deps: WebhooksDeps, due: AnyRow, entities: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    """The window hit CDC's 1,000 cap: one entity per call, and past that a paged query."""
    result: dict[str, list[dict[str, Any]]] = {}
    for entity in entities:
        objects = (await deps.qbo.cdc(due.connection_id, [entity], due.changed_since)).get(entity, [])
        if len(objects) >= service.CDC_CAP:
            # Paging has no cap; deletions past the cap are only in CDC, so say so.
            log.warning("CDC window over the cap for one entity; paging a query", extra={"entity": entity})
            since = service.quote(due.changed_since.isoformat())
            objects = [
                o
                async for o in deps.qbo.query_all(
                    due.connection_id, entity, f"MetaData.LastUpdatedTime >= {since}"
                )
            ]
        result[entity] = objects
    return result


async def _report_cdc_object(session: AsyncSession, due: AnyRow, entity: str, obj: dict[str, Any]) -> str:
    operation = service.cdc_operation(obj)
    if operation == "Delete":
        return await publishing.report_deletion(
            session, connections=[due], entity=entity, qbo_id=str(obj.get("Id"))
        )
    return await publishing.report_object(
        session, connections=[due], entity=entity, entity_data=obj, operation=operation
    )


# -- imports ------------------------------------------------------------------------------------


async def run_imports(res: Resources, deps: WebhooksDeps) -> None:
    """Run requested imports one after another until cancelled."""

    async def step() -> bool:
        return await import_once(res.sessionmaker, deps)

    await Worker(name="reference import", step=step, poll_seconds=_idle(deps)).run()


async def import_once(sessionmaker: async_sessionmaker[AsyncSession], deps: WebhooksDeps) -> bool:
    """One pending import job, start to end; False when there is none."""
    async with sessionmaker() as session, session.begin():
        job = await repository.claim_import_job(session, stale_after=IMPORT_STALE)
        conn = await repository.connection(session, connection_id=job.connection_id) if job else None
    if job is None:
        return False
    with log_context(connection_id=job.connection_id, job_id=job.job_id):
        await _run_job(sessionmaker, deps, job, conn)
    return True


async def _run_job(
    sessionmaker: async_sessionmaker[AsyncSession], deps: WebhooksDeps, job: AnyRow, conn: AnyRow | None
) -> None:
    counts: dict[str, int] = {}
    status, error, retry_in = "done", None, None
    refused: list[str] = []
    try:
        if conn is None or conn.status != "active":
            raise ParkedError("the connection is not active", code="connection_unusable")
        for entity in service.import_entities(job.entities):
            try:
                counts[entity] = await _import_entity(sessionmaker, deps, job, conn, entity, counts)
            except PermanentError as exc:  # e.g. a list this edition lacks: the others still count
                refused.append(f"{entity}: {exc}")
        error = "; ".join(refused) or None
    except ParkedError as exc:
        status, error = "failed", str(exc)
    except Exception as exc:  # noqa: BLE001 - transient: the job starts again later
        status, error, retry_in = "pending", repr(exc), IMPORT_RETRY
    published = sum(counts.values())
    log.info("reference import ended", extra={"status": status, "published": published, "error": error})
    async with sessionmaker() as session, session.begin():
        await repository.update_import_job(
            session,
            job_id=job.job_id,
            status=status,
            published=published,
            error=error,
            retry_in=retry_in,
            counts=counts,
        )
        whole = not service.narrowed(job.entities, job.created_from, job.created_to)
        if job.kind == "import" and whole and status in ("done", "failed"):
            await _report_imported(session, job, conn, status=status, counts=counts, error=error)


async def _report_imported(
    session: AsyncSession,
    job: AnyRow,
    conn: AnyRow | None,
    *,
    status: str,
    counts: dict[str, int],
    error: str | None,
) -> None:
    """Stage ``qbo.reference.imported`` with the job's end: the outbox publishes it after the pages."""
    if conn is None:  # no tenant or realm to address it to; nothing waits on an unknown connection
        log.warning("import ended for a connection this service does not know", extra={"job_id": job.job_id})
        return
    event = ReferenceImported(
        connection_id=conn.connection_id,
        realm_id=conn.realm_id,
        status="done" if status == "done" else "failed",
        counts=counts,
        error=error,
    )
    await Outbox(session, models.outbox).add(
        "qbo.reference.imported", event, tenant_id=conn.tenant_id, realm_id=conn.realm_id
    )


async def _import_entity(
    sessionmaker: async_sessionmaker[AsyncSession],
    deps: WebhooksDeps,
    job: AnyRow,
    conn: AnyRow,
    entity: str,
    counts: dict[str, int],
) -> int:
    """Publish one entity's objects page by page; ``counts`` (per entity) is the job's progress."""
    counts[entity] = 0
    page: list[dict[str, Any]] = []
    async for obj in _objects(sessionmaker, deps, job, conn, entity):
        page.append(obj)
        if len(page) >= PAGE:
            await _publish_page(sessionmaker, job, conn, entity, page, counts)
            page = []
    if page:
        await _publish_page(sessionmaker, job, conn, entity, page, counts)
    return counts[entity]


async def _objects(
    sessionmaker: async_sessionmaker[AsyncSession],
    deps: WebhooksDeps,
    job: AnyRow,
    conn: AnyRow,
    entity: str,
) -> AsyncIterator[dict[str, Any]]:
    if job.kind == "import":
        where = service.import_where(entity, job.created_from, job.created_to)
        async for obj in deps.qbo.query_all(
            conn.connection_id, entity, where, deps.settings.import_page_size
        ):
            yield obj
        return
    async with sessionmaker() as session:
        ids = await repository.known_ids(session, realm_id=conn.realm_id, entity=entity)
    for statement in service.ids_queries(entity, ids):
        for obj in (await deps.qbo.query(conn.connection_id, statement)).get(entity, []):
            yield obj


async def _publish_page(
    sessionmaker: async_sessionmaker[AsyncSession],
    job: AnyRow,
    conn: AnyRow,
    entity: str,
    page: list[dict[str, Any]],
    counts: dict[str, int],
) -> None:
    async with sessionmaker() as session, session.begin():
        for obj in page:
            await publishing.report_object(
                session, connections=[conn], entity=entity, entity_data=obj, operation="Import", force=True
            )
        counts[entity] = counts.get(entity, 0) + len(page)
        await repository.update_import_job(
            session, job_id=job.job_id, status="running", published=sum(counts.values()), counts=counts
        )
