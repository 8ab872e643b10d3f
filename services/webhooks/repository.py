"""Queries of the webhooks service: `session` first, keyword-only after; never commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypeAlias

from sqlalchemy import DateTime, Row, and_, case, delete, func, literal_column, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.webhooks import models
from services.webhooks.payloads import Change
from services.webhooks.service import Version
from shared.contracts.internal import ConnectionSettingsChanged, ReadPathCategory
from shared.db import inline

# Any row of any select (SQLAlchemy 2.1 types a row by its columns).
AnyRow: TypeAlias = Row[*tuple[Any, ...]]
NOTIFY_CHANNEL = "webhooks_deliveries"
_INSERT_CHUNK = 1000


# -- deliveries and changes ---------------------------------------------------------------------


async def store_delivery(session: AsyncSession, *, digest: str, fmt: str, body: str) -> bool:
    """Keep a webhook body; False when the same body was stored before (a replay)."""
    stmt = (
        insert(models.deliveries)
        .values(body_sha256=digest, format=fmt, body=body)
        .on_conflict_do_nothing(index_elements=["body_sha256"])
        # Only for a row inserted, delivered on commit: wakes the processor of every replica
        # without polling, in the same statement (no round trip of its own).
        .returning(models.deliveries.c.id, func.pg_notify(NOTIFY_CHANNEL, ""))
    )
    return (await session.execute(stmt)).first() is not None


async def claim_deliveries(session: AsyncSession, *, limit: int) -> Sequence[AnyRow]:
    """Stored bodies not yet split into changes, locked for this transaction."""
    d = models.deliveries
    stmt = (
        select(d.c.id, d.c.body)
        .where(d.c.status == inline("received"))
        .order_by(d.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(stmt)).all()


async def add_changes(session: AsyncSession, *, delivery_id: int | None, changes: Sequence[Change]) -> int:
    """Record changes (a change seen before is skipped); returns how many were new."""
    added = 0
    for start in range(0, len(changes), _INSERT_CHUNK):
        rows = [_change_row(delivery_id, c) for c in changes[start : start + _INSERT_CHUNK]]
        stmt = insert(models.changes).on_conflict_do_nothing(index_elements=["dedup_key"])
        result = await session.execute(stmt.returning(models.changes.c.id), rows)
        added += len(result.all())
    return added


def _change_row(delivery_id: int | None, change: Change) -> dict[str, Any]:
    return {
        "dedup_key": change.dedup_key(),
        "delivery_id": delivery_id,
        "realm_id": change.realm_id,
        "entity": change.entity,
        "qbo_id": change.qbo_id,
        "operation": change.operation,
        "deleted_id": change.deleted_id,
        "occurred_at": change.occurred_at,
    }


async def mark_expanded(session: AsyncSession, *, delivery_id: int, change_count: int) -> None:
    d = models.deliveries
    await session.execute(
        update(d)
        .where(d.c.id == delivery_id)
        .values(status="expanded", change_count=change_count, expanded_at=func.now())
    )


async def claim_due_changes(session: AsyncSession, *, limit: int) -> Sequence[AnyRow]:
    """Pending changes whose time has come, longest due first (then in arrival order), locked for
    this transaction (other replicas skip them); each with its ``age`` since it arrived (the
    database's clock, as its arrival's).

    In ``ix_changes_due``'s order, so the claim stops at ``limit``: ordered by id alone it read
    every due change and sorted them, each claim, while a burst of them waited."""
    c = models.changes
    stmt = (
        select(c, (func.now() - c.c.created_at).label("age"))
        .where(c.c.status == inline("pending"), c.c.next_attempt_at <= func.now())
        .order_by(c.c.next_attempt_at, c.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(stmt)).all()


async def finish_changes(
    session: AsyncSession,
    *,
    ids: Sequence[int],
    status: str,
    outcome: str | None = None,
    error: str | None = None,
) -> None:
    """Set the final (or parked) state of changes."""
    if not ids:
        return
    c = models.changes
    await session.execute(
        update(c)
        .where(c.c.id.in_(ids))
        .values(status=status, outcome=outcome, last_error=error, processed_at=func.now())
    )


async def retry_changes(
    session: AsyncSession, *, ids: Sequence[int], error: str, delay: timedelta, give_up_after: int
) -> None:
    """Try again after ``delay``; ``failed`` once a change has been tried ``give_up_after`` times."""
    c = models.changes
    await session.execute(
        update(c)
        .where(c.c.id.in_(ids))
        .values(
            attempts=c.c.attempts + 1,
            last_error=error,
            next_attempt_at=func.now() + delay,
            status=case((c.c.attempts + 1 >= give_up_after, "failed"), else_="pending"),
        )
    )


async def postpone_changes(
    session: AsyncSession, *, ids: Sequence[int], least: timedelta, until: timedelta
) -> None:
    """Look at changes again later, not counted as an attempt (nothing failed): after as long as
    each has waited already (at least ``least``), so its looks thin out, and never later than
    ``until`` after it arrived."""
    if not ids:
        return
    c = models.changes
    later = func.now() + func.greatest(least, func.now() - c.c.created_at)
    await session.execute(
        update(c).where(c.c.id.in_(ids)).values(next_attempt_at=func.least(c.c.created_at + until, later))
    )


async def release_realm(session: AsyncSession, *, realm_id: str) -> int:
    """Changes kept for a realm nobody had connected, or a connection that could not be used: due now."""
    c = models.changes
    result = await session.execute(
        update(c)
        .where(c.c.realm_id == realm_id, c.c.status.in_(("unknown_realm", "waiting_connection")))
        .values(status="pending", next_attempt_at=func.now())
        .returning(c.c.id)
    )
    return len(result.all())


async def unknown_realms(session: AsyncSession) -> Sequence[AnyRow]:
    """Realms Intuit sent changes for that no connection has: how many, first and last seen."""
    c = models.changes
    stmt = (
        select(
            c.c.realm_id,
            func.count().label("changes"),
            func.min(c.c.created_at).label("first_seen"),
            func.max(c.c.created_at).label("last_seen"),
        )
        .where(c.c.status == "unknown_realm")
        .group_by(c.c.realm_id)
        .order_by(c.c.realm_id)
    )
    return (await session.execute(stmt)).all()


async def changes_of(session: AsyncSession, *, realm_id: str) -> Sequence[AnyRow]:
    """Every change recorded for a realm, oldest first (for operators and tests)."""
    c = models.changes
    return (await session.execute(select(c).where(c.c.realm_id == realm_id).order_by(c.c.id))).all()


# -- connections --------------------------------------------------------------------------------


async def connections_for_realm(session: AsyncSession, *, realm_id: str) -> Sequence[AnyRow]:
    t = models.connections
    stmt = select(t.c.connection_id, t.c.tenant_id, t.c.realm_id, t.c.status).where(t.c.realm_id == realm_id)
    return (await session.execute(stmt.order_by(t.c.connection_id))).all()


async def save_read_settings(session: AsyncSession, *, settings: ConnectionSettingsChanged) -> None:
    """Keep a connection's read-path settings; an older version arriving late changes nothing."""
    t = models.read_settings
    categories = {k: v.model_dump(mode="json") for k, v in settings.categories.items()}
    stmt = insert(t).values(
        connection_id=settings.connection_id, version=settings.version, categories=categories
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["connection_id"],
            set_={"version": settings.version, "categories": categories, "updated_at": func.now()},
            where=t.c.version < settings.version,
        )
    )


async def read_categories(session: AsyncSession, *, connection_id: str) -> dict[str, ReadPathCategory]:
    """The connection's categories as the read path obeys them (empty: every default)."""
    t = models.read_settings
    stored = (
        await session.execute(select(t.c.categories).where(t.c.connection_id == connection_id))
    ).scalar_one_or_none()
    return {k: ReadPathCategory.model_validate(v) for k, v in (stored or {}).items()}


async def connection(session: AsyncSession, *, connection_id: str) -> AnyRow | None:
    t = models.connections
    stmt = select(t.c.connection_id, t.c.tenant_id, t.c.realm_id, t.c.status).where(
        t.c.connection_id == connection_id
    )
    return (await session.execute(stmt)).first()


async def active_connection_of_tenant(session: AsyncSession, *, tenant_id: str) -> str | None:
    t = models.connections
    stmt = select(t.c.connection_id).where(t.c.tenant_id == tenant_id, t.c.status == "active")
    return (await session.execute(stmt.order_by(t.c.updated_at.desc()).limit(1))).scalar_one_or_none()


# -- versions, own writes, document links -------------------------------------------------------


async def record_version(
    session: AsyncSession, *, realm_id: str, entity: str, qbo_id: str, version: Version | None, deleted: bool
) -> bool:
    """Remember the newest version of an object; True only when this one is newer than any seen.

    One statement, so two replicas (or a webhook and CDC) racing on one object cannot both win.
    A deletion is final: QBO never reuses an id.
    """
    newer = await record_versions(session, realm_id=realm_id, seen=[(entity, qbo_id, version, deleted)])
    return (entity, qbo_id) in newer


async def record_versions(
    session: AsyncSession, *, realm_id: str, seen: Sequence[tuple[str, str, Version | None, bool]]
) -> set[tuple[str, str]]:
    """``record_version`` of several objects of a realm ((entity, id, version, deleted) each) in one
    statement; the (entity, id) of those newer than any seen. An object named twice keeps its last."""
    last = {(entity, qbo_id): (version, deleted) for entity, qbo_id, version, deleted in seen}
    if not last:
        return set()
    rows = [
        {
            "realm_id": realm_id,
            "entity": entity,
            "qbo_id": qbo_id,
            "sync_token": version.sync_token if version else None,
            "last_updated_at": version.last_updated_at if version else None,
            "deleted": deleted,
        }
        for (entity, qbo_id), (version, deleted) in last.items()
    ]
    return {(r.entity, r.qbo_id) for r in await session.execute(_RECORD_VERSIONS, rows)}


def _record_versions() -> Any:
    """Built once (the rows go as parameters): a version wins over an older one, a deletion over all."""
    s = models.entity_states
    stmt = insert(s)
    ex = stmt.excluded
    never = literal_column("'-infinity'::timestamptz", DateTime(timezone=True))
    older = tuple_(func.coalesce(s.c.sync_token, -1), func.coalesce(s.c.last_updated_at, never)) < tuple_(
        func.coalesce(ex.sync_token, -1), func.coalesce(ex.last_updated_at, never)
    )
    return stmt.on_conflict_do_update(
        index_elements=["realm_id", "entity", "qbo_id"],
        set_={
            "sync_token": func.coalesce(ex.sync_token, s.c.sync_token),
            "last_updated_at": func.coalesce(ex.last_updated_at, s.c.last_updated_at),
            "deleted": ex.deleted,
            "updated_at": func.now(),
        },
        where=and_(s.c.deleted.is_(False), ex.deleted.is_(True) | older),
    ).returning(s.c.entity, s.c.qbo_id)


_RECORD_VERSIONS = _record_versions()


async def known_ids(session: AsyncSession, *, realm_id: str, entity: str) -> list[str]:
    """Ids of the objects of ``entity`` seen in this realm and not deleted."""
    s = models.entity_states
    stmt = select(s.c.qbo_id).where(s.c.realm_id == realm_id, s.c.entity == entity, s.c.deleted.is_(False))
    return list((await session.execute(stmt.order_by(s.c.qbo_id))).scalars())


class OwnWrite(NamedTuple):
    """A version of an object the bridge wrote (its echo is not news to the platform)."""

    connection_id: str
    entity: str
    qbo_id: str
    sync_token: int


async def record_own_writes(session: AsyncSession, *, writes: Sequence[OwnWrite]) -> None:
    """Remember versions the bridge wrote, in one statement."""
    if writes:
        await session.execute(_RECORD_OWN_WRITES, [w._asdict() for w in writes])


_RECORD_OWN_WRITES = insert(models.own_writes).on_conflict_do_nothing()


async def written_lately(
    session: AsyncSession, *, connection_ids: Sequence[str], entities: Sequence[str], within: timedelta
) -> set[str]:
    """Which of ``entities`` the exporter wrote through any of ``connection_ids`` within ``within``:
    one probe of ``ix_own_writes_recent`` an entity, stopping at the first write found."""
    if not connection_ids or not entities:
        return set()
    found = await session.execute(
        _WRITTEN_LATELY, {"connections": list(connection_ids), "entities": list(entities), "within": within}
    )
    return set(found.scalars())


_WRITTEN_LATELY = text("""
    SELECT e.entity FROM unnest(CAST(:entities AS text[])) AS e(entity)
    WHERE EXISTS (
        SELECT 1 FROM webhooks.own_writes w
        WHERE w.connection_id = ANY(CAST(:connections AS text[])) AND w.entity = e.entity
          AND w.recorded_at > now() - CAST(:within AS interval))
""")


async def is_own_write(
    session: AsyncSession, *, connection_id: str, entity: str, qbo_id: str, sync_token: int
) -> bool:
    w = models.own_writes
    stmt = select(w.c.qbo_id).where(
        w.c.connection_id == connection_id,
        w.c.entity == entity,
        w.c.qbo_id == qbo_id,
        w.c.sync_token == sync_token,
    )
    return (await session.execute(stmt)).first() is not None


async def own_creations(
    session: AsyncSession, *, connection_ids: Sequence[str], keys: Sequence[tuple[str, str]]
) -> set[tuple[str, str, str]]:
    """(connection, entity, id) among ``keys`` that the exporter created (wrote at SyncToken 0)."""
    if not connection_ids or not keys:
        return set()
    w = models.own_writes
    stmt = select(w.c.connection_id, w.c.entity, w.c.qbo_id).where(
        w.c.connection_id.in_(connection_ids),
        tuple_(w.c.entity, w.c.qbo_id).in_(keys),
        w.c.sync_token == 0,
    )
    return {(r.connection_id, r.entity, r.qbo_id) for r in await session.execute(stmt)}


class DocumentLink(NamedTuple):
    """Which platform document a QBO document is."""

    connection_id: str
    entity: str
    qbo_id: str
    platform_id: str


async def record_document_links(session: AsyncSession, *, links: Sequence[DocumentLink]) -> None:
    """Remember which platform documents QBO documents are, in one statement; a document named
    twice keeps the last platform id."""
    last = {(d.connection_id, d.entity, d.qbo_id): d for d in links}
    if not last:
        return
    await session.execute(_RECORD_DOCUMENT_LINKS, [d._asdict() for d in last.values()])


def _record_document_links() -> Any:
    """Built once (the rows go as parameters): a document named again keeps the last platform id."""
    stmt = insert(models.document_links)
    return stmt.on_conflict_do_update(
        index_elements=["connection_id", "entity", "qbo_id"], set_={"platform_id": stmt.excluded.platform_id}
    )


_RECORD_DOCUMENT_LINKS = _record_document_links()


async def platform_ids(
    session: AsyncSession, *, connection_id: str, entity: str, qbo_ids: Sequence[str]
) -> dict[str, str]:
    """QBO id → the platform's id, for the documents of ``entity`` that came from the platform."""
    if not qbo_ids:
        return {}
    link = models.document_links
    stmt = select(link.c.qbo_id, link.c.platform_id).where(
        link.c.connection_id == connection_id, link.c.entity == entity, link.c.qbo_id.in_(qbo_ids)
    )
    return {row.qbo_id: row.platform_id for row in await session.execute(stmt)}


async def save_payment_report(
    session: AsyncSession, *, connection_id: str, entity: str, qbo_id: str, payload: dict[str, Any]
) -> None:
    """Remember the last ``qbo.payment.received`` reported for a payment."""
    stmt = insert(models.payment_reports).values(
        connection_id=connection_id, entity=entity, qbo_id=qbo_id, payload=payload
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["connection_id", "entity", "qbo_id"],
            set_={"payload": payload, "reported_at": func.now()},
        )
    )


async def payment_report(
    session: AsyncSession, *, connection_id: str, entity: str, qbo_id: str
) -> dict[str, Any] | None:
    """The last ``qbo.payment.received`` data reported for a payment, if any."""
    r = models.payment_reports
    stmt = select(r.c.payload).where(
        r.c.connection_id == connection_id, r.c.entity == entity, r.c.qbo_id == qbo_id
    )
    found: dict[str, Any] | None = (await session.execute(stmt)).scalar_one_or_none()
    return found


# -- CDC watermarks -----------------------------------------------------------------------------


async def schedule_cdc(session: AsyncSession, *, connection_id: str, changed_since: datetime) -> None:
    """CDC for the connection as soon as possible; a new watermark starts at ``changed_since``."""
    stmt = insert(models.cdc_watermarks).values(connection_id=connection_id, changed_since=changed_since)
    await session.execute(
        stmt.on_conflict_do_update(index_elements=["connection_id"], set_={"next_run_at": func.now()})
    )


async def schedule_all_cdc(session: AsyncSession) -> None:
    """Every connection's CDC due now (a service that was down may have missed webhooks).

    An active connection without a watermark (known before CDC existed) starts one now.
    """
    w, t = models.cdc_watermarks, models.connections
    await session.execute(update(w).values(next_run_at=func.now()))
    missing = select(t.c.connection_id, func.now()).where(t.c.status == "active")
    await session.execute(
        insert(w).from_select(["connection_id", "changed_since"], missing).on_conflict_do_nothing()
    )


async def prune(session: AsyncSession, *, older_than: timedelta) -> None:
    """Forget handled deliveries and changes, and own writes, once they are ``older_than``.

    Versions (``entity_states``) and document links are kept: they are what later changes are
    compared with and what later payments are matched to.
    """
    d, c, w = models.deliveries, models.changes, models.own_writes
    cutoff = func.now() - older_than
    await session.execute(delete(d).where(d.c.status == "expanded", d.c.received_at < cutoff))
    await session.execute(delete(c).where(c.c.status.in_(("done", "ignored")), c.c.created_at < cutoff))
    # An own write is echoed within minutes; a month covers webhook retries and CDC's lookback.
    await session.execute(delete(w).where(w.c.recorded_at < func.now() - max(older_than, timedelta(days=31))))


async def claim_due_cdc(session: AsyncSession) -> AnyRow | None:
    """One active connection whose CDC is due, locked for this transaction."""
    w, t = models.cdc_watermarks, models.connections
    stmt = (
        select(w.c.connection_id, w.c.changed_since, t.c.tenant_id, t.c.realm_id, t.c.status)
        .join(t, t.c.connection_id == w.c.connection_id)
        .where(w.c.next_run_at <= func.now(), t.c.status == "active")
        .order_by(w.c.next_run_at)
        .limit(1)
        .with_for_update(of=w, skip_locked=True)
    )
    return (await session.execute(stmt)).first()


async def finish_cdc(
    session: AsyncSession,
    *,
    connection_id: str,
    changed_since: datetime,
    next_in: timedelta,
    published: int | None,
    error: str | None,
) -> None:
    w = models.cdc_watermarks
    await session.execute(
        update(w)
        .where(w.c.connection_id == connection_id)
        .values(
            changed_since=changed_since,
            next_run_at=func.now() + next_in,
            last_run_at=func.now(),
            last_published=published,
            last_error=error,
        )
    )


async def watermark(session: AsyncSession, *, connection_id: str) -> AnyRow | None:
    w = models.cdc_watermarks
    return (await session.execute(select(w).where(w.c.connection_id == connection_id))).first()


# -- import jobs --------------------------------------------------------------------------------


async def create_import_job(
    session: AsyncSession, *, connection_id: str, kind: str, limits: dict[str, Any] | None = None
) -> str:
    """A pending job; ``limits`` (``entities``, ``created_from``, ``created_to``) narrow an import."""
    job_id = uuid.uuid4().hex
    await session.execute(
        insert(models.import_jobs).values(
            job_id=job_id, connection_id=connection_id, kind=kind, **(limits or {})
        )
    )
    return job_id


async def claim_import_job(session: AsyncSession, *, stale_after: timedelta) -> AnyRow | None:
    """A pending job (or a running one whose worker stopped beating), marked running."""
    j = models.import_jobs
    beat = func.coalesce(j.c.heartbeat_at, j.c.requested_at)
    due = ((j.c.status == "pending") & (beat <= func.now())) | (
        (j.c.status == "running") & (beat < func.now() - stale_after)
    )
    stmt = select(j).where(due).order_by(j.c.requested_at).limit(1).with_for_update(skip_locked=True)
    job = (await session.execute(stmt)).first()
    if job is not None:
        await session.execute(
            update(j).where(j.c.job_id == job.job_id).values(status="running", heartbeat_at=func.now())
        )
    return job


async def update_import_job(
    session: AsyncSession,
    *,
    job_id: str,
    status: str,
    published: int,
    error: str | None = None,
    retry_in: timedelta | None = None,
    counts: dict[str, int] | None = None,
) -> None:
    j = models.import_jobs
    values: dict[str, Any] = {"status": status, "published": published, "error": error}
    if counts is not None:
        values["counts"] = counts
    values["heartbeat_at"] = func.now() + retry_in if retry_in is not None else func.now()
    if status in ("done", "failed"):
        values["finished_at"] = func.now()
    await session.execute(update(j).where(j.c.job_id == job_id).values(**values))


async def import_jobs(session: AsyncSession, *, connection_id: str, limit: int = 50) -> list[AnyRow]:
    """A connection's import and update jobs, newest first."""
    j = models.import_jobs
    rows = await session.execute(
        select(j).where(j.c.connection_id == connection_id).order_by(j.c.requested_at.desc()).limit(limit)
    )
    return list(rows.all())


async def import_job(session: AsyncSession, *, job_id: str) -> AnyRow | None:
    j = models.import_jobs
    return (await session.execute(select(j).where(j.c.job_id == job_id))).first()
