"""One export round for one realm, top to bottom: resolve → decide → send → record.

- **resolve**: the links of the jobs and of the objects their payloads name (one query), the QBO
  objects carrying the match keys payloads refer to, and — only for a create that may already be
  in QBO (in doubt, or where QBO takes duplicates silently) — its own match key (one query per
  entity and field each);
- **decide**: ``service.plan`` per job (a write, or an outcome needing no call), then
  ``service.split_batches`` (a batch of up to 30 whenever two or more can go together);
- **send**: batches and single writes; a stale SyncToken is re-read once, a create QBO refuses as a
  duplicate is looked up then (adopted, or refused if it is another document);
- **record**: every outcome of the round in one transaction (jobs finished or rescheduled, links,
  outbox events, waiting dependents released, one NOTIFY); the queued repeats of a list object's
  create that succeeded (the customer each invoice of a run ensures) end with it. A failure is classified by
  ``service.settle``: the exporter's only retry schedule for QBO writes.

A crash loses at most the writes in flight: their leases run out, and they are resolved by lookup.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from prometheus_client import Counter
from sqlalchemy import RowMapping, func
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.exporter import models, repository, service
from services.exporter.service import Errored, Job, LinkKey, Outcome, Planned, Write
from services.exporter.settings import ExporterSettings
from shared import tracing
from shared.contracts.bridge import SyncFailed, SyncSucceeded
from shared.crashpoints import crash_point
from shared.db import autocommit
from shared.messaging.outbox import Outbox, StagedRow, write_staged
from shared.qbo.client import QboClient

log = logging.getLogger(__name__)

JOBS_FINISHED = Counter("qbb_exporter_jobs_finished_total", "Export jobs finished, by outcome", ["outcome"])
JOBS_RETRIED = Counter(
    "qbb_exporter_jobs_retried_total", "Export attempts scheduled again, by error code", ["code"]
)

Holds = Callable[[Job], bool]
FIND_CHUNK = 100
Settled = Planned | Outcome


class Exporter:
    """Writes claimed jobs of one realm and records what came of them; one per dispatcher."""

    def __init__(
        self,
        *,
        client: QboClient,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: ExporterSettings,
        worker: str,
    ) -> None:
        self._client, self._sessionmaker, self._settings, self._worker = (
            client,
            sessionmaker,
            settings,
            worker,
        )
        self._policy = service.RetryPolicy(
            delays=settings.retry_delays,
            jitter=settings.retry_jitter,
            # Back in the queue after a second: the realm limiter holds the realm's calls for as long
            # as its pause after the 429 lasts (1 s doubling up to throttle_pause_seconds), so the job
            # need not sit out the longest pause on its own.
            throttle_pause=min(1.0, settings.throttle_pause_seconds) / settings.qbo_time_scale,
        )

    async def export(self, jobs: Sequence[Job], *, holds: Holds) -> None:
        """Write ``jobs`` (one realm's, ready, in order); every job ends with a recorded outcome.

        ``holds`` says whether this process still holds a job's lease: checked before each send, so
        a process that stalled past its lease (another took the job over) never writes it too.
        """
        # resolve
        links = await self._links(jobs)
        ids = {key: str(row["qbo_id"]) for key, row in links.items()}
        matches = await self._matches(jobs)
        look = [j for j in jobs if j.key not in links and service.looks_up_first(j)]
        found, done = await self._lookups(look, ids)
        # decide
        failed = {o.job.id for o in done}
        planned = [
            service.plan(job, link=links.get(job.key), ids=ids, matches=matches, found=found.get(job.id))
            for job in jobs
            if job.id not in failed
        ]
        writes = [p for p in planned if isinstance(p, Write)]
        done += [p for p in planned if not isinstance(p, Write)]
        # send
        done += await self._send(writes, holds, ids, matches)
        # record
        await self.record(done)

    async def preview(self, jobs: Sequence[Job]) -> list[service.Verdict]:
        """What the write path would do with ``jobs`` (in order), from QBO and the links; no write.

        Resolve and decide as ``export`` does. Every create with a match key is looked up first: where
        a write would learn of the object from QBO's duplicate fault and then look it up, the preview
        asks at once, so it comes to the same adoption or refusal. A link a job would make is known
        to the jobs after it (the invoice of a customer adopted by name is that customer's).
        """
        links = await self._links(jobs)
        ids = {key: str(row["qbo_id"]) for key, row in links.items()}
        matches = await self._matches(jobs)
        look = [j for j in jobs if j.key not in links and service.has_match_key(j)]
        candidates, failed = await self._candidates(look)
        errors: dict[str, service.Planned] = {o.job.id: o for o in failed if isinstance(o, Errored)}
        verdicts, created = [], set[LinkKey]()
        for job in jobs:
            rows = candidates.get(job.id)
            found = service.best_match(job, rows, ids) if rows else None
            planned = errors.get(job.id) or service.plan(
                job, link=links.get(job.key), ids=ids, matches=matches, found=found
            )
            verdicts.append(service.verdict(planned, created_before=job.key in created))
            if (qbo_id := service.planned_id(planned)) is not None:
                ids[job.key] = qbo_id
            elif job.operation == "create":
                created.add(job.key)
        return verdicts

    async def expire(self, rows: Iterable[RowMapping]) -> None:
        """Jobs that waited past their limit (claimed by this worker) end, with the reason."""
        await self.record([service.expired(Job.from_row(r), r["last_error"]) for r in rows])

    # -- resolve ---------------------------------------------------------------------------------

    async def _links(self, jobs: Sequence[Job]) -> dict[LinkKey, RowMapping]:
        by_connection: dict[str, list[LinkKey]] = defaultdict(list)
        for job in jobs:
            refs = [*service.link_refs(job.payload), *service.link_refs(job.match or {})]
            by_connection[job.connection_id] += [job.key, *refs]
        found: dict[LinkKey, RowMapping] = {}
        async with autocommit(self._sessionmaker) as session:
            for connection_id, keys in by_connection.items():
                found |= await repository.linked(session, connection_id=connection_id, keys=keys)
        return found

    async def _lookups(
        self, jobs: Sequence[Job], ids: Mapping[LinkKey, str]
    ) -> tuple[dict[str, dict[str, Any]], list[Settled]]:
        """QBO objects already carrying these creates' match keys (the one of the job's party where
        there are several), and the errors of the jobs whose lookup failed."""
        candidates, failed = await self._candidates(jobs)
        by_id = {job.id: job for job in jobs}
        found = {job_id: service.best_match(by_id[job_id], rows, ids) for job_id, rows in candidates.items()}
        return found, failed

    async def _candidates(self, jobs: Sequence[Job]) -> tuple[dict[str, list[dict[str, Any]]], list[Settled]]:
        """Per job, the QBO objects carrying its match key (one query per entity and field), and the
        errors of the jobs whose lookup failed."""
        wanted: dict[tuple[str, str, str], list[Job]] = defaultdict(list)
        for job in jobs:
            wanted[(job.connection_id, job.entity, job.match_field or "")].append(job)
        found: dict[str, list[dict[str, Any]]] = {}
        failed: list[Settled] = []
        for (connection_id, entity, field), group in wanted.items():
            values = sorted({j.match_value or "" for j in group})
            try:
                rows = await self._find(connection_id, entity, field, values)
            except Exception as exc:  # noqa: BLE001 - each job records the failure as its outcome
                failed += [Errored(job, exc) for job in group]
                continue
            by_value: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for row in rows:
                by_value[str(row.get(field, "")).lower()].append(row)
            for job in group:
                if candidates := by_value.get((job.match_value or "").lower()):
                    found[job.id] = candidates
        return found, failed

    async def _matches(self, jobs: Sequence[Job]) -> dict[service.MatchKey, list[service.Found]]:
        """QBO ids (and parties) of the objects payloads name by a match key (one query per entity
        and field). A failed lookup leaves its keys out; the job then retries as ``Unmatched``."""
        wanted: dict[tuple[str, str, str], set[str]] = defaultdict(set)
        for job in jobs:
            for entity, field, value in service.match_refs(job.payload):
                wanted[(job.connection_id, entity, field)].add(value)
        found: dict[service.MatchKey, list[service.Found]] = defaultdict(list)
        for (connection_id, entity, field), values in wanted.items():
            try:
                rows = await self._find(connection_id, entity, field, sorted(values))
            except Exception:
                log.warning("match-key lookup failed", exc_info=True, extra={"entity": entity})
                continue
            for row in rows:
                key = (entity, field, str(row.get(field, "")).lower())
                found[key].append((str(row["Id"]), service.party_of(row)))
        return found

    async def _find(
        self, connection_id: str, entity: str, field: str, values: list[str]
    ) -> list[dict[str, Any]]:
        """``find_by`` in queries of at most ``FIND_CHUNK`` values: a round has 30 jobs, but a dry run
        of a whole file asks for thousands, and one query must stay a reasonable URL."""
        rows: list[dict[str, Any]] = []
        for part in service.chunks(values, FIND_CHUNK):
            rows += await self._client.find_by(connection_id, entity, field, part)
        return rows

    # -- send ------------------------------------------------------------------------------------

    async def _send(
        self,
        writes: Sequence[Write],
        holds: Holds,
        ids: Mapping[LinkKey, str],
        matches: Mapping[service.MatchKey, list[service.Found]],
    ) -> list[Settled]:
        batches, alone = service.split_batches(writes, self._settings.batch_size)
        gate = asyncio.Semaphore(self._settings.realm_parallel)

        async def single(write: Write) -> list[Settled]:
            async with gate:
                return await self._single(write, holds)

        answers = await asyncio.gather(*(self._batch(b, holds) for b in batches), *(single(w) for w in alone))
        results = [r for answer in answers for r in answer]
        refused = {r.job.id: r for r in results if service.duplicate_refused(r)}
        if not refused:
            return results
        # QBO has an object with the match key already: this document (adopt it) or another (refuse).
        found, failed = await self._lookups([r.job for r in refused.values()], ids)
        instead: dict[str, Settled] = {r.job.id: r for r in failed}
        for job_id, obj in found.items():
            instead[job_id] = service.plan(
                refused[job_id].job, link=None, ids=ids, matches=matches, found=obj
            )
        return [instead.get(r.job.id, r) if r.job.id in refused else r for r in results]

    async def _single(self, write: Write, holds: Holds) -> list[Settled]:
        job = write.job
        if not holds(job):
            log.warning("lease lost before sending; another worker takes the job", extra={"job_id": job.id})
            return []
        try:
            with tracing.continuing(job.traceparent, job.tracestate):
                obj = await self._call(write, requestid=job.requestid)
        except Exception as exc:  # noqa: BLE001 - becomes the job's outcome
            result: Settled = service.send_failed(write, exc)
        else:
            result = service.sent(write, obj)
        return [await self._after_stale(write) if service.is_stale(result) else result]

    async def _batch(self, writes: list[Write], holds: Holds) -> list[Settled]:
        """One batch request; each item's answer (object or Fault) is that job's outcome."""
        if not all(holds(w.job) for w in writes):
            log.warning("lease lost before sending a batch; another worker takes its jobs")
            return []
        items = [
            service.batch_item(f"b{i}", entity=w.job.entity, operation=w.operation, body=w.body)
            for i, w in enumerate(writes)
        ]
        requestid = service.batch_request_id([w.job.requestid for w in writes])
        first = writes[0].job
        try:
            with tracing.continuing(first.traceparent, first.tracestate):
                answers = await self._client.batch(first.connection_id, items, requestid=requestid)
        except Exception as exc:  # noqa: BLE001 - every job of the batch records the failure
            return [Errored(w.job, exc) for w in writes]
        by_bid = {str(a.get("bId")): a for a in answers}
        results: list[Settled] = []
        for i, w in enumerate(writes):
            result = service.batch_answer(w, by_bid.get(f"b{i}"))
            results.append(await self._after_stale(w) if service.is_stale(result) else result)
        return results

    async def _after_stale(self, write: Write) -> Settled:
        """5010: someone changed the object; re-read its SyncToken and write once more."""
        job = write.job
        try:
            with tracing.continuing(job.traceparent, job.tracestate):
                current = await self._client.read(job.connection_id, job.entity, str(write.body["Id"]))
                fresh = Write(job, write.operation, {**write.body, "SyncToken": str(current["SyncToken"])})
                obj = await self._call(fresh, requestid=f"{job.requestid}-s{current['SyncToken']}")
        except Exception as exc:  # noqa: BLE001 - becomes the job's outcome
            return Errored(job, exc)
        return service.sent(write, obj)

    def _call(self, write: Write, *, requestid: str) -> Awaitable[dict[str, Any]]:
        job, c = write.job, self._client
        if write.operation == "create":
            return c.create(job.connection_id, job.entity, write.body, requestid=requestid)
        if write.operation == "update":
            return c.update(job.connection_id, job.entity, write.body, requestid=requestid)
        qbo_id, token = str(write.body["Id"]), str(write.body["SyncToken"])
        if write.operation == "void":
            return c.void(job.connection_id, job.entity, qbo_id=qbo_id, sync_token=token, requestid=requestid)
        return c.delete(job.connection_id, job.entity, qbo_id=qbo_id, sync_token=token, requestid=requestid)

    # -- record ----------------------------------------------------------------------------------

    async def record(self, results: Sequence[Settled]) -> None:
        """Every outcome in one transaction; what waited for the objects now linked is released."""
        crash_point("exporter.after_write")  # fault runs: QBO has the writes, nothing is recorded yet
        outcomes: list[Outcome] = []
        for r in results:
            if isinstance(r, Errored):
                outcomes.append(self._settle(r))
            elif not isinstance(r, Write):
                outcomes.append(r)
        if not outcomes:
            return
        async with self._sessionmaker() as session, session.begin():
            staged: list[StagedRow] = []  # the round's events, written in one statement
            outbox = Outbox(session, models.outbox, staged=staged)
            succeeded = [o for o in outcomes if isinstance(o, service.Succeeded)]
            recorded: list[Outcome] = [*await self._record_succeeded(session, outbox, succeeded)]
            others = [o for o in outcomes if not isinstance(o, service.Succeeded)]
            recorded += [o for o in others if await self._record(session, outbox, o)]
            await write_staged(session, models.outbox, staged)
            linked: dict[str, list[LinkKey]] = defaultdict(list)
            for o in recorded:
                if isinstance(o, service.Succeeded):
                    linked[o.job.connection_id].append(o.job.key)
            released = 0
            for connection_id, keys in linked.items():
                released += await repository.unpark_ready(session, connection_id=connection_id, linked=keys)
            # A dependency linked between the claim and this park: the job is not left waiting for it.
            waiting = [
                o.job.id for o in recorded if isinstance(o, service.Waits) and o.reason == "dependency"
            ]
            released += await repository.unpark_ready(session, job_ids=waiting) if waiting else 0
            if released:
                await repository.notify(session)
        for o in recorded:
            _observe(o)

    def _settle(self, errored: Errored) -> Outcome:
        outcome = service.settle(errored.job, errored.error, self._policy)
        if not isinstance(outcome, service.ParkConnection) and outcome.problem.code == "internal_error":
            log.error("unexpected export error", exc_info=errored.error, extra={"job_id": errored.job.id})
        return outcome

    async def _record_succeeded(
        self, session: AsyncSession, outbox: Outbox, done: Sequence[service.Succeeded]
    ) -> list[service.Succeeded]:
        """The jobs QBO now has: finished and linked, one statement each for all of them, and
        announced; those another worker took over are left out (nothing is recorded of them)."""
        events = {o.job.id: success_event(o.job, o.obj, operation=o.operation) for o in done}
        ours = await repository.finish_succeeded(
            session,
            worker=self._worker,
            done={job_id: (e.qbo_id, e.qbo_doc_number) for job_id, e in events.items()},
        )
        kept = [o for o in done if o.job.id in ours]
        repeats = await repository.finish_repeats(
            session, job_ids=[o.job.id for o in kept if service.may_be_repeated(o.job)]
        )
        latest: dict[tuple[str, str, str], dt.datetime] = {}
        for key, order_time in repeats:
            latest[key] = max(latest.get(key, order_time), order_time)
        JOBS_FINISHED.labels("succeeded").inc(len(repeats))
        await repository.upsert_links(
            session, rows=[_link_row(o, events[o.job.id], latest=latest) for o in kept]
        )
        for o in kept:
            if o.report:
                with tracing.continuing(o.job.traceparent, o.job.tracestate):  # the platform's trace goes on
                    event = events[o.job.id]
                    await outbox.add(
                        "sync.succeeded",
                        event,
                        tenant_id=o.job.tenant_id,
                        realm_id=o.job.realm_id,
                        lane=o.job.lane,
                    )
        return kept

    async def _record(self, session: AsyncSession, outbox: Outbox, o: Outcome) -> bool:
        """One outcome's rows (but a success's); False if another worker took the job over (nothing
        is recorded)."""
        job = o.job
        assert not isinstance(o, service.Succeeded)
        if isinstance(o, service.Waits):
            wait = self._settings.wait_limit_seconds
            return await repository.park(
                session, job=job, worker=self._worker, reason=o.reason, note=o.note, wait_seconds=wait
            )
        if not await repository.finish(
            session, job_id=job.id, worker=self._worker, values=_values(job, o, self._settings)
        ):
            return False
        with tracing.continuing(job.traceparent, job.tracestate):  # the platform's trace goes on
            if isinstance(o, service.Skipped) and o.report:
                await outbox.add(
                    "sync.succeeded",
                    skipped_event(o),
                    tenant_id=job.tenant_id,
                    realm_id=job.realm_id,
                    lane=job.lane,
                )
            elif isinstance(o, service.Failed):
                await outbox.add(
                    "sync.failed",
                    failed_event(o),
                    tenant_id=job.tenant_id,
                    realm_id=job.realm_id,
                    lane=job.lane,
                )
            elif isinstance(o, service.ParkConnection):
                wait = self._settings.wait_limit_seconds
                await repository.park_connection(
                    session, connection_id=job.connection_id, note=o.problem.message, wait_seconds=wait
                )
        return True


def _link_row(
    o: service.Succeeded, event: SyncSucceeded, *, latest: Mapping[tuple[str, str, str], dt.datetime]
) -> dict[str, Any]:
    """The job's link; its event time is the latest of its repeats that ended with it, if later."""
    job = o.job
    repeated = latest.get((job.connection_id, *job.key))
    return {
        "connection_id": job.connection_id,
        "entity": job.key[0],
        "platform_id": job.key[1],
        "object_type": job.object_type,
        "qbo_id": str(event.qbo_id),
        "sync_token": event.qbo_sync_token,
        "doc_number": event.qbo_doc_number,
        "event_time": max(job.order_time, repeated) if repeated else job.order_time,
        "fingerprint": o.fingerprint,
    }


def _values(job: Job, o: Outcome, settings: ExporterSettings) -> dict[str, Any]:
    """The job row's new state for an outcome but a success (``repository.finish_succeeded``) or a
    wait (``repository.park``)."""
    done = {"finished_at": func.now(), "lease_until": None}
    if isinstance(o, service.Skipped):
        # A later create of the object takes a skipped void/delete up again (see the handler).
        code = None if o.qbo_id else "not_in_qbo"
        return {**done, "status": "skipped", "last_error": o.note, "error_code": code, "qbo_id": o.qbo_id}
    if isinstance(o, service.Failed):
        return {**done, **o.problem.columns(), "status": "failed"}
    if isinstance(o, service.Retry):
        values = {
            **o.problem.columns(),
            "status": "queued",
            "lease_until": None,
            "in_doubt": job.in_doubt or o.in_doubt,
            "next_attempt_at": func.now() + dt.timedelta(seconds=o.delay),
        }
        return values if o.count else {**values, "attempts": max(0, job.attempts - 1)}
    assert isinstance(o, service.ParkConnection)
    return {
        **o.problem.columns(),
        "status": "parked",
        "park_reason": "connection",
        "lease_until": None,
        "attempts": max(0, job.attempts - 1),
        "wait_until": func.coalesce(
            models.jobs.c.wait_until, func.now() + dt.timedelta(seconds=settings.wait_limit_seconds)
        ),
    }


def _observe(o: Outcome) -> None:
    job = o.job
    if isinstance(o, service.Succeeded):
        JOBS_FINISHED.labels("succeeded").inc()
        log.info(
            "export succeeded", extra={"job_id": job.id, "qbo_id": o.obj.get("Id"), "operation": o.operation}
        )
    elif isinstance(o, service.Skipped):
        JOBS_FINISHED.labels("skipped").inc()
    elif isinstance(o, service.Failed):
        JOBS_FINISHED.labels("failed").inc()
        log.warning("export failed", extra={"job_id": job.id, "code": o.problem.code})
    elif isinstance(o, service.Retry):
        JOBS_RETRIED.labels(o.problem.code).inc()
        log.warning(
            "export will be retried", extra={"job_id": job.id, "code": o.problem.code, "delay": o.delay}
        )
    elif isinstance(o, service.ParkConnection):
        log.warning("connection unusable; parking its jobs", extra={"job_id": job.id, "code": o.problem.code})


def success_event(job: Job, obj: Mapping[str, Any], *, operation: str) -> SyncSucceeded:
    """``sync.succeeded`` for a job whose object QBO now has."""
    token = obj.get("SyncToken")
    return SyncSucceeded(
        object_type=job.object_type,
        platform_id=job.platform_id,
        qbo_id=str(obj["Id"]),
        qbo_doc_number=service.doc_number(obj),
        qbo_sync_token=None if token is None else str(token),
        operation=operation,
        source_event_id=job.source_event_id,
        connection_id=job.connection_id,
    )


def skipped_event(o: service.Skipped) -> SyncSucceeded:
    """``sync.succeeded`` with operation ``skipped`` and the reason."""
    job = o.job
    return SyncSucceeded(
        object_type=job.object_type,
        platform_id=job.platform_id,
        qbo_id=o.qbo_id,
        operation="skipped",
        source_event_id=job.source_event_id,
        connection_id=job.connection_id,
        reason=o.note,
    )


def failed_event(o: service.Failed) -> SyncFailed:
    job, problem = o.job, o.problem
    return SyncFailed(
        object_type=job.object_type,
        platform_id=job.platform_id,
        source_event_id=job.source_event_id,
        code=problem.code,
        message=problem.message,
        hint=problem.hint,
        qbo_fault=problem.qbo_fault,
        retryable=problem.retryable,
        connection_id=job.connection_id,
    )
