"""Queries of the exporter service: `session` first, keyword-only after; never commits."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, RowMapping, and_, func, literal, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.exporter.models import jobs, links
from services.exporter.service import Job, LinkKey, Problem
from shared.db import inline

NOTIFY_CHANNEL = "exporter_jobs"
OPEN = ("queued", "running", "parked")

# A job's dependencies are all linked (symbolic links and depends_on alike).
_DEPS_MET = """NOT EXISTS (
    SELECT 1 FROM jsonb_array_elements(j.depends_on) d
    WHERE NOT EXISTS (
        SELECT 1 FROM exporter.links l
        WHERE l.connection_id = j.connection_id
          AND l.entity = d->>'entity' AND l.platform_id = d->>'platform_id'))"""

# Writes to one object happen one at a time, in the order of the platform's event time (then arrival).
# A scalar subquery, not ``NOT EXISTS``: Postgres turns a ``NOT EXISTS`` of the WHERE clause into an
# anti-join, after which a realm's jobs are no longer read in the index's order and the claim reads
# and sorts its whole backlog to keep :per_realm; a subquery stays a filter on the ordered scan.
_FIRST_FOR_OBJECT = """NOT (SELECT EXISTS (
    SELECT 1 FROM exporter.jobs e
    WHERE e.connection_id = j.connection_id AND e.entity = j.entity AND e.platform_id = j.platform_id
      AND (coalesce(e.event_time, e.created_at), e.seq) < (coalesce(j.event_time, j.created_at), j.seq)
      AND e.status IN ('queued', 'running', 'parked')))"""

# A write the mapper put after others of its source event (void the credit memo after deleting the
# payment applying it) starts once those have been recorded and have ended, whatever the arrival order.
_AFTER_DONE = """NOT EXISTS (
    SELECT 1 FROM jsonb_array_elements(j.after) a
    WHERE NOT EXISTS (
        SELECT 1 FROM exporter.jobs e
        WHERE e.connection_id = j.connection_id AND e.source_event_id = j.source_event_id
          AND e.entity = a->>'entity' AND e.platform_id = a->>'platform_id'
          AND e.status IN ('succeeded', 'failed', 'skipped')))"""

# The job's connection is active (or not known here yet). A boolean subquery, as the two above:
# compared with a value, Postgres guesses it true for 0.5 % of the rows, and then reads a realm's
# whole backlog at once rather than in order until it has its batch.
_CONNECTION_ACTIVE = """(SELECT coalesce(bool_and(c.status = 'active'), true)
    FROM exporter.connections c WHERE c.connection_id = j.connection_id)"""

# A realm's claimable rows (queued, or running with a lapsed lease), as ix_jobs_claimable_realm has them.
_CLAIMABLE = "status IN ('queued', 'running')"

# Due: queued and past its retry delay, or running under a lease that ran out (its holder died).
_DUE = """((j.status = 'queued' AND j.next_attempt_at <= now())
      OR (j.status = 'running' AND j.lease_until < clock_timestamp()))"""

# One round reads only what it returns: the realms with claimable rows are found by a skip scan of
# the partial index (one probe per realm, none per job); the realms this process is writing are
# left out; of the others, up to :candidates are read oldest head first (live before history), each
# giving up to :per_realm ready jobs, read in order from the same index; and the first :realms of
# those with any ready job are taken. A realm whose due jobs all wait (for an earlier write to
# their object, a dependency, the connection) takes no place: a few of them would otherwise keep
# every other realm from a claim limited to a few realms. Finished rows are in no index it reads.
# Only constant fragments are interpolated below; values are bound parameters.
_CLAIM = text(f"""
WITH RECURSIVE realms(realm_id) AS (
    (SELECT realm_id FROM exporter.jobs WHERE {_CLAIMABLE} ORDER BY realm_id LIMIT 1)
    UNION ALL
    SELECT (SELECT j.realm_id FROM exporter.jobs j
            WHERE j.{_CLAIMABLE} AND j.realm_id > r.realm_id
            ORDER BY j.realm_id LIMIT 1)
    FROM realms r WHERE r.realm_id IS NOT NULL
),
heads AS (
    SELECT r.realm_id, h.history, h.seq FROM realms r
    CROSS JOIN LATERAL (
        SELECT j.history, j.seq FROM exporter.jobs j
        WHERE j.realm_id = r.realm_id AND j.{_CLAIMABLE} AND {_DUE}
        ORDER BY j.history, j.seq LIMIT 1) h
    WHERE r.realm_id IS NOT NULL AND NOT (r.realm_id = ANY(CAST(:busy AS text[])))
    ORDER BY h.history, h.seq
    LIMIT :candidates
),
ready AS (
    SELECT p.id, h.realm_id, h.history, h.seq FROM heads h
    CROSS JOIN LATERAL (
        SELECT j.id FROM exporter.jobs j
        WHERE j.realm_id = h.realm_id AND j.{_CLAIMABLE}
          AND {_DUE}
          AND NOT (j.id = ANY(CAST(:held AS text[])))
          AND {_CONNECTION_ACTIVE}
          AND {_FIRST_FOR_OBJECT}
          AND {_AFTER_DONE}
          AND {_DEPS_MET}
        ORDER BY j.history, j.seq
        LIMIT :per_realm
        FOR UPDATE OF j SKIP LOCKED) p
),
picked AS (
    SELECT realm_id FROM ready GROUP BY realm_id, history, seq ORDER BY history, seq LIMIT :realms
)
UPDATE exporter.jobs j SET
    status = 'running',
    in_doubt = j.in_doubt OR j.status = 'running',
    attempts = j.attempts + 1,
    lease_until = clock_timestamp() + make_interval(secs => :lease),
    claimed_by = :worker,
    started_at = coalesce(j.started_at, now()),
    updated_at = now()
WHERE j.id = ANY(ARRAY(SELECT id FROM ready WHERE realm_id IN (SELECT realm_id FROM picked)))
RETURNING j.*
""")  # noqa: S608

# For the claim's transaction only: reads by index — no bitmap scans (see ``claim``), and no
# sequential scans of the small tables its checks probe per job (``exporter.links`` was read whole
# for each job's dependencies, so the rows read per round grew with the links every earlier write
# left); a plan made for this round's values, not the generic one a prepared statement gets after
# five runs (which reads the backlog again); and no JIT, which the planner's high estimate for a
# backlog read in order would otherwise pay each round (about a second to compile).
CLAIM_PLANNING = {
    "enable_bitmapscan": "off",
    "enable_seqscan": "off",
    "plan_cache_mode": "force_custom_plan",
    "jit": "off",
}
CLAIM_PLANNING_PREFIX = "SELECT set_config("
_CLAIM_PLANNING = text(
    "SELECT " + ", ".join(f"set_config('{name}', '{value}', true)" for name, value in CLAIM_PLANNING.items())
)

_UNPARK_READY = f"""
UPDATE exporter.jobs j SET status = 'queued', park_reason = NULL, last_error = NULL, wait_until = NULL,
    updated_at = now()
WHERE j.status = 'parked' AND j.park_reason = 'dependency' AND {_DEPS_MET}
"""  # noqa: S608


async def notify(session: AsyncSession) -> None:
    """Wake every dispatcher once this transaction commits."""
    await session.execute(text("SELECT pg_notify(:c, '')"), {"c": NOTIFY_CHANNEL})


async def insert_jobs(session: AsyncSession, *, rows: Sequence[Mapping[str, Any]]) -> set[str]:
    """Record jobs (in order: their ``seq`` follows it) but those with a requestid the connection
    already has; the ids of the new ones.

    New jobs wake every dispatcher once this transaction commits (the NOTIFY rides in the insert's
    RETURNING: one statement, not two)."""
    if not rows:
        return set()
    stmt = insert(jobs).on_conflict_do_nothing(index_elements=["connection_id", "requestid"])
    result = await session.execute(stmt.returning(jobs.c.id, func.pg_notify(NOTIFY_CHANNEL, "")), list(rows))
    return {row[0] for row in result}


async def linked(
    session: AsyncSession, *, connection_id: str, keys: Iterable[LinkKey]
) -> dict[LinkKey, RowMapping]:
    """The links of ``keys`` that exist."""
    wanted = list(set(keys))
    if not wanted:
        return {}
    rows = await session.execute(
        select(links).where(
            links.c.connection_id == connection_id, tuple_(links.c.entity, links.c.platform_id).in_(wanted)
        )
    )
    return {(r["entity"], r["platform_id"]): r for r in rows.mappings()}


async def linked_across(
    session: AsyncSession, *, keys: Iterable[tuple[str, str, str]]
) -> dict[tuple[str, str, str], RowMapping]:
    """The links that exist of ``keys`` (connection id, entity, platform id), of any connections."""
    wanted = list(set(keys))
    if not wanted:
        return {}
    rows = await session.execute(
        select(links).where(tuple_(links.c.connection_id, links.c.entity, links.c.platform_id).in_(wanted))
    )
    return {(r["connection_id"], r["entity"], r["platform_id"]): r for r in rows.mappings()}


async def upsert_links(session: AsyncSession, *, rows: Sequence[Mapping[str, Any]]) -> None:
    """Record where objects are in QBO (one statement): each row has ``connection_id``, ``entity``,
    ``platform_id``, ``object_type``, ``qbo_id``, ``sync_token``, ``doc_number``, ``event_time`` and
    ``fingerprint``. An object named twice keeps its last row. The event time only moves forward,
    and a write without a body of its own (a void, a delete) keeps the last body's fingerprint."""
    last = {(r["connection_id"], r["entity"], r["platform_id"]): r for r in rows}
    if last:
        await session.execute(_UPSERT_LINKS, list(last.values()))


def _upsert_links() -> Any:
    """Built once: only the rows, sent as parameters, differ from one round to the next."""
    stmt = insert(links).values(updated_at=func.now())
    keep = ("qbo_id", "sync_token", "doc_number", "object_type", "updated_at")
    changes: dict[str, Any] = {k: stmt.excluded[k] for k in keep}
    changes["event_time"] = func.greatest(links.c.event_time, stmt.excluded.event_time)
    changes["fingerprint"] = func.coalesce(stmt.excluded.fingerprint, links.c.fingerprint)
    return stmt.on_conflict_do_update(index_elements=["connection_id", "entity", "platform_id"], set_=changes)


_UPSERT_LINKS = _upsert_links()


async def claim(
    session: AsyncSession,
    *,
    worker: str,
    realms: int,
    per_realm: int,
    lease_seconds: float,
    busy_realms: Sequence[str],
    held: Sequence[str] = (),
    planned: bool = False,
    candidates: int | None = None,
) -> list[RowMapping]:
    """Take up to ``per_realm`` ready jobs of each of up to ``realms`` realms not in ``busy_realms``
    (skipping what other dispatchers hold, and the caller's own ``held`` jobs even where their lease
    ran out), realms oldest first, each realm's in order. One statement: outside a transaction too.

    ``candidates`` (at least ``realms``; default ``realms``): how many realms with due jobs are read
    for them, oldest first; a realm with nothing ready among them takes no place of the ``realms``.

    ``planned``: the session's connection opened with ``CLAIM_PLANNING`` (the dispatcher's own pool);
    else those settings are made for the caller's transaction first."""
    # Each realm's jobs are read in the claimable index's order until ``per_realm`` are ready: the
    # planner, guessing that few queued jobs pass the readiness checks, would otherwise read a
    # realm's whole backlog by a bitmap scan, check and sort it all, and keep 30 (146 ms a round
    # beside 5,000 queued jobs; 3 ms in index order).
    if not planned:
        await session.execute(_CLAIM_PLANNING)
    rows = await session.execute(
        _CLAIM,
        {
            "worker": worker,
            "realms": realms,
            "candidates": max(realms, candidates or realms),
            "per_realm": per_realm,
            "lease": lease_seconds,
            "busy": list(busy_realms),
            "held": list(held),
        },
    )
    return sorted(rows.mappings().all(), key=lambda r: (r["history"], r["seq"]))


async def renew_leases(
    session: AsyncSession, *, worker: str, job_ids: Sequence[str], lease_seconds: float
) -> None:
    """Keep holding jobs still being written (a slow or throttled realm must not look crashed).

    Rows locked by someone else are skipped, not waited for: the round recording those jobs' outcomes
    holds them (they need no lease any more), and waiting locked them in another order than that
    round did — Postgres found the deadlock and failed one of the two transactions.
    """
    if job_ids:
        held = (
            select(jobs.c.id)
            .where(jobs.c.id.in_(job_ids), jobs.c.claimed_by == worker, jobs.c.status == "running")
            .with_for_update(skip_locked=True)
        )
        await session.execute(
            update(jobs)
            .where(jobs.c.id.in_(held))
            .values(lease_until=func.clock_timestamp() + dt.timedelta(seconds=lease_seconds))
        )


async def finish(session: AsyncSession, *, job_id: str, worker: str, values: Mapping[str, Any]) -> bool:
    """Move a running job this worker holds to its next state; False if another worker took it over."""
    result = await session.execute(
        update(jobs)
        .where(jobs.c.id == job_id, jobs.c.claimed_by == worker, jobs.c.status == "running")
        .values(**values, updated_at=func.now())
        .returning(jobs.c.id)
    )
    return result.first() is not None


async def finish_succeeded(
    session: AsyncSession, *, worker: str, done: Mapping[str, tuple[str | None, str | None]]
) -> set[str]:
    """Running jobs this worker holds succeeded (job id → QBO id and doc number), in one statement;
    the ids it still held (the others were taken over by another worker: nothing is recorded)."""
    if not done:
        return set()
    params = {
        "worker": worker,
        "ids": list(done),
        "qbo_ids": [qbo_id for qbo_id, _ in done.values()],
        "doc_numbers": [doc_number for _, doc_number in done.values()],
    }
    return {str(row[0]) for row in await session.execute(_FINISH_SUCCEEDED, params)}


# The round's jobs as arrays: one statement whatever their number (a VALUES list of one row each
# was a new statement for every round size, compiled and prepared again).
_FINISH_SUCCEEDED = text(f"""
    UPDATE exporter.jobs j SET status = 'succeeded', finished_at = now(), lease_until = NULL,
           {", ".join(f"{column} = NULL" for column in Problem.COLUMNS)},
           qbo_id = v.qbo_id, qbo_doc_number = v.doc_number, updated_at = now()
    FROM unnest(CAST(:ids AS text[]), CAST(:qbo_ids AS text[]), CAST(:doc_numbers AS text[]))
         AS v(id, qbo_id, doc_number)
    WHERE j.id = v.id AND j.claimed_by = :worker AND j.status = 'running'
    RETURNING j.id
""")  # noqa: S608 - only column names are interpolated


# A later queued write of the same list object that is the same write again (the customer every
# invoice of a billing run ensures): with nothing different between them, it would find the object
# linked and unchanged, as its own round would, so it ends with the write it repeats.
_SAME_WRITE = """{x}.operation = 'create' AND {x}.payload = k.payload AND {x}.depends_on = k.depends_on
    AND {x}.after = '[]'::jsonb AND {x}.if_absent = k.if_absent"""

# Read once an object: the first live write of the object that is not such a repeat (each repeat
# ends only if it comes before that one), not a check of every earlier write for every repeat.
_FINISH_REPEATS = f"""
WITH k AS (SELECT * FROM exporter.jobs WHERE id = ANY(CAST(:ids AS text[])) AND status = 'succeeded'),
stop AS (
    SELECT k.id, b.order_time, b.seq FROM k
    LEFT JOIN LATERAL (
        SELECT coalesce(m.event_time, m.created_at) AS order_time, m.seq FROM exporter.jobs m
        WHERE m.connection_id = k.connection_id AND m.entity = k.entity AND m.platform_id = k.platform_id
          AND m.status IN ('queued', 'running', 'parked')
          AND NOT (m.status = 'queued' AND {_SAME_WRITE.format(x="m")})
        ORDER BY coalesce(m.event_time, m.created_at), m.seq
        LIMIT 1) b ON true
)
UPDATE exporter.jobs j SET status = 'succeeded', finished_at = now(), lease_until = NULL, {{blank}},
       qbo_id = k.qbo_id, qbo_doc_number = k.qbo_doc_number, updated_at = now()
FROM k JOIN stop ON stop.id = k.id
WHERE j.connection_id = k.connection_id AND j.entity = k.entity AND j.platform_id = k.platform_id
  AND j.status = 'queued' AND {_SAME_WRITE.format(x="j")}
  AND (coalesce(j.event_time, j.created_at), j.seq) > (coalesce(k.event_time, k.created_at), k.seq)
  AND (stop.seq IS NULL
       OR (coalesce(j.event_time, j.created_at), j.seq) < (stop.order_time, stop.seq))
RETURNING j.connection_id, j.entity, j.platform_id, coalesce(j.event_time, j.created_at) AS order_time
"""  # noqa: S608 - only constant fragments are interpolated; values are bound parameters


async def finish_repeats(
    session: AsyncSession, *, job_ids: Sequence[str]
) -> list[tuple[tuple[str, str, str], dt.datetime]]:
    """The queued repeats of writes that just succeeded (``job_ids``) end with them, in one
    statement: each later queued job of the same object that is the same create again, with no other
    write of the object before it. Returns each ended repeat's object (connection id, entity,
    platform id) and event time: the object's link then takes the latest, as their own rounds would."""
    if not job_ids:
        return []
    blank = ", ".join(f"{column} = NULL" for column in Problem.COLUMNS)
    result = await session.execute(text(_FINISH_REPEATS.format(blank=blank)), {"ids": list(job_ids)})
    return [((r.connection_id, r.entity, r.platform_id), r.order_time) for r in result]


async def unpark_ready(
    session: AsyncSession,
    *,
    connection_id: str | None = None,
    linked: Sequence[LinkKey] = (),
    job_ids: Sequence[str] = (),
) -> int:
    """Jobs waiting for dependencies that are now all linked go back to the queue.

    With ``connection_id`` and ``linked``: only the jobs waiting for one of those keys (found by the
    index on waiting jobs' ``depends_on``); with ``job_ids``: only those; with neither: every one
    (the dispatcher's periodic sweep, which catches a link and a park that crossed).
    """
    if connection_id is not None and linked:
        # One containment test per key, OR-ed: each is a probe of the GIN index (an ANY() is not).
        keys = sorted(set(linked))
        tests = " OR ".join(f"j.depends_on @> CAST(:k{i} AS jsonb)" for i in range(len(keys)))
        where = f" AND j.connection_id = :c AND ({tests})"
        params: dict[str, Any] = {"c": connection_id}
        params |= {f"k{i}": json.dumps([{"entity": e, "platform_id": p}]) for i, (e, p) in enumerate(keys)}
    elif job_ids:
        where, params = " AND j.id = ANY(CAST(:ids AS text[]))", {"ids": list(job_ids)}
    elif connection_id is None:
        where, params = "", {}
    else:
        return 0
    result = await session.execute(text(_UNPARK_READY + where), params)
    return int(getattr(result, "rowcount", 0) or 0)


async def note_blocked(session: AsyncSession, *, connection_id: str, key: LinkKey, note: str) -> None:
    """Say on the jobs waiting for ``key`` that it failed (they stay parked: a retry may still fix it)."""
    await session.execute(
        update(jobs)
        .where(
            jobs.c.connection_id == connection_id,
            jobs.c.status == inline("parked"),
            jobs.c.park_reason == inline("dependency"),
            jobs.c.depends_on.contains([{"entity": key[0], "platform_id": key[1]}]),
        )
        .values(last_error=note, updated_at=func.now())
    )


async def park_connection(
    session: AsyncSession, *, connection_id: str, note: str, wait_seconds: float
) -> int:
    """Park every queued job of a connection that cannot be used now (each waits at most
    ``wait_seconds`` for it to come back)."""
    result = await session.execute(
        update(jobs)
        .where(jobs.c.connection_id == connection_id, jobs.c.status == inline("queued"))
        .values(
            status="parked",
            park_reason="connection",
            last_error=note,
            wait_until=func.coalesce(jobs.c.wait_until, func.now() + dt.timedelta(seconds=wait_seconds)),
            updated_at=func.now(),
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def resume_connection(session: AsyncSession, *, connection_id: str) -> int:
    """A re-established connection: its parked jobs go back to the queue."""
    result = await session.execute(
        update(jobs)
        .where(
            jobs.c.connection_id == connection_id,
            jobs.c.status == inline("parked"),
            jobs.c.park_reason == inline("connection"),
        )
        .values(
            status="queued",
            park_reason=None,
            wait_until=None,
            next_attempt_at=func.now(),
            updated_at=func.now(),
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def redrive(
    session: AsyncSession, *, connection_id: str | None = None, job_id: str | None = None
) -> int:
    """Failed and parked jobs (of a connection, or one job) back to the queue with fresh attempts."""
    where: list[ColumnElement[bool]] = [jobs.c.status.in_(("failed", "parked"))]
    if connection_id is not None:
        where.append(jobs.c.connection_id == connection_id)
    if job_id is not None:
        where.append(jobs.c.id == job_id)
    result = await session.execute(
        update(jobs)
        .where(and_(*where))
        .values(
            status="queued",
            park_reason=None,
            attempts=0,
            next_attempt_at=func.now(),
            finished_at=None,
            updated_at=func.now(),
        )
    )
    # Those still waiting for dependencies go back to waiting, or nothing would ever wake them.
    await session.execute(
        text(f"""UPDATE exporter.jobs j SET status = 'parked', park_reason = 'dependency', updated_at = now()
                 WHERE j.status = 'queued' AND NOT ({_DEPS_MET})""")  # noqa: S608
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def get_job(session: AsyncSession, *, job_id: str) -> RowMapping | None:
    return (await session.execute(select(jobs).where(jobs.c.id == job_id))).mappings().first()


async def list_jobs(
    session: AsyncSession,
    *,
    connection_id: str,
    status: str | None = None,
    since: dt.datetime | None = None,
    object_type: str | None = None,
    before_seq: int | None = None,
    limit: int = 200,
) -> list[RowMapping]:
    """The sync history of a connection, newest first (``before_seq``: the next page after that job)."""
    query = select(jobs).where(jobs.c.connection_id == connection_id)
    if before_seq is not None:
        query = query.where(jobs.c.seq < before_seq)
    if status is not None:
        query = query.where(jobs.c.status == status)
    if since is not None:
        query = query.where(jobs.c.updated_at >= since)
    if object_type is not None:
        query = query.where(jobs.c.object_type == object_type)
    rows = await session.execute(query.order_by(jobs.c.seq.desc()).limit(limit))
    return list(rows.mappings().all())


# -- waits: for an object's creation, for dependencies, for the connection; and their end ---------


def _lock_object(connection_id: str, key: LinkKey) -> Any:
    """Serialises "park for the object's creation" with "its creation arrived" (no lost wake-up)."""
    return text("SELECT pg_advisory_xact_lock(hashtext(:k))").bindparams(
        k=_object_lock_key(connection_id, key)
    )


def _object_lock_key(connection_id: str, key: LinkKey) -> str:
    return f"exporter\x1f{connection_id}\x1f{key[0]}\x1f{key[1]}"


async def park(
    session: AsyncSession, *, job: Job, worker: str, reason: str, note: str, wait_seconds: float
) -> bool:
    """A running job this worker holds goes back to waiting (its wait's end set if not set yet).

    Waiting for the object's creation: under the object's lock, and straight back to the queue if
    a create of it arrived meanwhile (it arrived while this job was being planned).
    """
    job_id = job.id
    if reason == "create":
        await session.execute(_lock_object(job.connection_id, job.key))
    result = await session.execute(
        update(jobs)
        .where(jobs.c.id == job_id, jobs.c.claimed_by == worker, jobs.c.status == "running")
        .values(
            status="parked",
            park_reason=reason,
            last_error=note,
            lease_until=None,
            attempts=func.greatest(jobs.c.attempts - 1, 0),
            wait_until=func.coalesce(jobs.c.wait_until, func.now() + dt.timedelta(seconds=wait_seconds)),
            updated_at=func.now(),
        )
        .returning(jobs.c.id)
    )
    parked = result.first() is not None
    if parked and reason == "create":
        await session.execute(
            text("""
            UPDATE exporter.jobs j SET status = 'queued', park_reason = NULL, next_attempt_at = now()
            WHERE j.id = :id AND EXISTS (
                SELECT 1 FROM exporter.jobs c
                WHERE c.connection_id = j.connection_id AND c.entity = j.entity
                  AND c.platform_id = j.platform_id AND c.operation = 'create'
                  AND c.status IN ('queued', 'running', 'parked', 'succeeded'))
            """),
            {"id": job_id},
        )
    return parked


async def creations_arrived(session: AsyncSession, *, created: Sequence[tuple[str, LinkKey, Any]]) -> int:
    """Creates of objects (connection id, key, order time) were recorded: what waited for them goes
    back to the queue, and later writes that ended because their object was not in QBO (a void that
    arrived first) are taken up again. One statement for all; the objects' locks in one order."""
    if not created:
        return 0
    latest: dict[tuple[str, LinkKey], Any] = {}
    for connection_id, key, order_time in created:
        latest[(connection_id, key)] = min(order_time, latest.get((connection_id, key), order_time))
    # Volatile functions of the select list run after the sort: the locks are taken in hash order.
    await session.execute(
        text(
            "SELECT pg_advisory_xact_lock(h) FROM"
            " (SELECT hashtext(k) AS h FROM unnest(CAST(:keys AS text[])) AS k) AS o ORDER BY h"
        ),
        {"keys": [_object_lock_key(c, key) for c, key in latest]},
    )
    params: dict[str, Any] = {}
    rows = []
    for n, ((connection_id, (entity, platform_id)), order_time) in enumerate(latest.items()):
        params |= {f"c{n}": connection_id, f"e{n}": entity, f"p{n}": platform_id, f"t{n}": order_time}
        rows.append(
            f"(CAST(:c{n} AS text), CAST(:e{n} AS text), CAST(:p{n} AS text), CAST(:t{n} AS timestamptz))"
        )
    result = await session.execute(
        text(f"""
        UPDATE exporter.jobs j SET status = 'queued', park_reason = NULL, finished_at = NULL,
               attempts = 0, next_attempt_at = now(), updated_at = now()
        FROM (VALUES {", ".join(rows)}) AS a(connection_id, entity, platform_id, order_time)
        WHERE j.connection_id = a.connection_id AND j.entity = a.entity AND j.platform_id = a.platform_id
          AND ((j.status = 'parked' AND j.park_reason = 'create')
               OR (j.status IN ('skipped', 'failed') AND j.error_code IN ('not_in_qbo', 'wait_expired')
                   AND coalesce(j.event_time, j.created_at) >= a.order_time))
        """),  # noqa: S608 - only placeholders are interpolated
        params,
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def claim_expired_waits(
    session: AsyncSession, *, worker: str, lease_seconds: float, limit: int = 100
) -> list[RowMapping]:
    """Parked jobs whose wait is over, taken by this worker so their end is recorded once."""
    rows = await session.execute(
        text("""
        WITH due AS (
            SELECT id FROM exporter.jobs
            WHERE status = 'parked' AND wait_until <= now()
            ORDER BY wait_until LIMIT :limit FOR UPDATE SKIP LOCKED
        )
        UPDATE exporter.jobs j SET status = 'running', claimed_by = :worker,
               lease_until = clock_timestamp() + make_interval(secs => :lease), updated_at = now()
        FROM due WHERE j.id = due.id
        RETURNING j.*
        """),
        {"worker": worker, "lease": lease_seconds, "limit": limit},
    )
    return list(rows.mappings().all())


async def adopt_reconnected(
    session: AsyncSession, *, connection_id: str, tenant_id: str, realm_id: str
) -> int:
    """The same tenant reconnected the same company under a new connection id: the old connections'
    links and open jobs move to it, so nothing waits for a connection that will never come back."""
    old = """SELECT connection_id FROM exporter.connections
             WHERE tenant_id = CAST(:t AS text) AND realm_id = CAST(:r AS text)
               AND connection_id <> CAST(:c AS text) AND status <> 'active'"""
    params = {"c": connection_id, "t": tenant_id, "r": realm_id}
    await session.execute(
        text(f"""
        INSERT INTO exporter.links (connection_id, entity, platform_id, object_type, qbo_id, sync_token,
                                    doc_number, event_time, fingerprint, updated_at)
        SELECT CAST(:c AS text), entity, platform_id, object_type, qbo_id, sync_token, doc_number, event_time,
               fingerprint, now()
        FROM exporter.links WHERE connection_id IN ({old})
        ON CONFLICT DO NOTHING"""),  # noqa: S608 - constant fragment, values bound
        params,
    )
    moved = await session.execute(
        text(f"""
        UPDATE exporter.jobs j SET connection_id = CAST(:c AS text), updated_at = now()
        WHERE j.connection_id IN ({old}) AND j.status IN ('queued', 'parked', 'running')
          AND NOT EXISTS (SELECT 1 FROM exporter.jobs n
                          WHERE n.connection_id = CAST(:c AS text) AND n.requestid = j.requestid)
        """),  # noqa: S608 - constant fragment, values bound
        params,
    )
    return int(getattr(moved, "rowcount", 0) or 0)


async def repush(session: AsyncSession, *, job_id: str, new_id: str) -> bool:
    """A new queued job (``new_id``) writing a succeeded create or update again, as an update of
    the linked object with the same payload; False when ``job_id`` is no such job."""
    # A fresh requestid: QBO must see a new request, not replay its answer to the old one.
    copied = (
        "connection_id", "realm_id", "tenant_id", "entity", "object_type", "platform_id",
        "source_event_id", "match_field", "match_value", "match", "payload", "event_time",
    )  # fmt: skip
    source = select(
        literal(new_id),
        *(jobs.c[name] for name in copied),
        literal("update"),
        literal(f"repush:{new_id}"),
        literal("queued"),
    ).where(jobs.c.id == job_id, jobs.c.status == "succeeded", jobs.c.operation.in_(("create", "update")))
    target = ["id", *copied, "operation", "requestid", "status"]
    result = await session.execute(insert(jobs).from_select(target, source).returning(jobs.c.id))
    return result.first() is not None
