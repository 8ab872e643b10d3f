"""Recording what happened to a job: its final state and its event, in one transaction each.

The dispatcher is a boundary like the consumer runtime: each outcome commits on its own, so a
crash loses at most the writes in flight (which a lookup resolves when the lease runs out).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.exporter import models, repository, service
from services.exporter.service import Job
from services.exporter.settings import ExporterSettings
from shared.contracts.bridge import SyncFailed, SyncSucceeded
from shared.errors import BridgeError, ParkedError, RetryableError
from shared.messaging.outbox import Outbox
from shared.qbo.errors import QboError, QboThrottled, QboUnavailable

log = logging.getLogger(__name__)

JOBS_FINISHED = Counter("qbb_exporter_jobs_finished_total", "Export jobs finished, by outcome", ["outcome"])
JOBS_RETRIED = Counter(
    "qbb_exporter_jobs_retried_total", "Export attempts scheduled again, by error code", ["code"]
)


@dataclass(frozen=True)
class Problem:
    """A failure described for people and for the sync history."""

    code: str
    message: str
    hint: str
    category: str
    retryable: bool
    qbo_fault: dict[str, Any] | None = None
    intuit_tid: str | None = None

    COLUMNS = ("last_error", "error_code", "hint", "error_category", "retryable", "qbo_fault", "intuit_tid")

    def columns(self) -> dict[str, Any]:
        return {
            "last_error": self.message,
            "error_code": self.code,
            "hint": self.hint,
            "error_category": self.category,
            "retryable": self.retryable,
            "qbo_fault": self.qbo_fault,
            "intuit_tid": self.intuit_tid,
        }


def success_event(job: Job, obj: dict[str, Any], *, operation: str) -> SyncSucceeded:
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


def describe(exc: BaseException) -> Problem:
    """The problem an exception stands for."""
    if isinstance(exc, QboError):
        f, a = exc.fault, exc.advice
        detail = f" QuickBooks says: {f.detail}" if f.detail else ""
        element = f" (field: {f.element})" if f.element else ""
        message = f"{a.message}{element}{detail}"
        return Problem(f.code, message, a.hint, a.category, a.retryable, f.raw or None, f.intuit_tid)
    if isinstance(exc, BridgeError):
        category = "transient" if isinstance(exc, RetryableError) else "authorization"
        if not isinstance(exc, RetryableError | ParkedError):
            category = "needs_person"
        return Problem(exc.code, exc.message, exc.hint, category, isinstance(exc, RetryableError))
    # The exception's own text can carry SQL or internals: it goes to the log, not to platforms.
    log.error("unexpected export error", exc_info=exc)
    return Problem(
        "internal_error",
        f"the bridge hit an unexpected error ({type(exc).__name__}) writing this record",
        "it is retried automatically; if it keeps failing, the operators have the details in the logs",
        "transient",
        True,
    )


class Outcomes:
    """Writes job outcomes (and ``sync.*`` events) for one dispatcher."""

    def __init__(
        self, *, sessionmaker: async_sessionmaker[AsyncSession], worker: str, settings: ExporterSettings
    ) -> None:
        self._sessionmaker, self._worker, self._settings = sessionmaker, worker, settings

    async def succeeded(
        self,
        job: Job,
        obj: dict[str, Any],
        *,
        operation: str,
        fingerprint: str | None = None,
        report: bool = True,
    ) -> None:
        """QBO has the object: link it, finish the job, tell the platform, wake what waited for it.

        ``report=False`` for a write that needed no call (an unchanged customer a document ensures).
        """
        event = success_event(job, obj, operation=operation)
        assert event.qbo_id is not None
        async with self._sessionmaker() as session, session.begin():
            values = {
                "status": "succeeded",
                "qbo_id": event.qbo_id,
                "qbo_doc_number": event.qbo_doc_number,
                "finished_at": func.now(),
                "lease_until": None,
                **{column: None for column in Problem.COLUMNS},
            }
            if not await repository.finish(session, job_id=job.id, worker=self._worker, values=values):
                return
            await repository.upsert_link(
                session,
                connection_id=job.connection_id,
                key=job.key,
                object_type=job.object_type,
                qbo_id=event.qbo_id,
                sync_token=event.qbo_sync_token,
                doc_number=event.qbo_doc_number,
                event_time=job.order_time,
                fingerprint=fingerprint,
            )
            if report:
                await self._outbox(session).add(
                    "sync.succeeded", event, tenant_id=job.tenant_id, realm_id=job.realm_id
                )
            if await repository.unpark_ready(session):
                await repository.notify(session)
        JOBS_FINISHED.labels("succeeded").inc()
        log.info("export succeeded", extra={"job_id": job.id, "qbo_id": event.qbo_id, "operation": operation})

    async def skipped(self, job: Job, *, note: str, qbo_id: str | None = None, report: bool = True) -> None:
        """Nothing to do in QBO (voiding what never reached it, an event older than one applied);
        the platform is told so (``sync.succeeded`` with operation ``skipped`` and the reason)."""
        async with self._sessionmaker() as session, session.begin():
            values = {
                "status": "skipped",
                "finished_at": func.now(),
                "lease_until": None,
                "last_error": note,
                # A later create of the object takes a skipped void/delete up again (see the handler).
                "error_code": None if qbo_id else "not_in_qbo",
                "qbo_id": qbo_id,
            }
            if not await repository.finish(session, job_id=job.id, worker=self._worker, values=values):
                return
            if report:
                event = SyncSucceeded(
                    object_type=job.object_type,
                    platform_id=job.platform_id,
                    qbo_id=qbo_id,
                    operation="skipped",
                    source_event_id=job.source_event_id,
                    connection_id=job.connection_id,
                    reason=note,
                )
                await self._outbox(session).add(
                    "sync.succeeded", event, tenant_id=job.tenant_id, realm_id=job.realm_id
                )
        JOBS_FINISHED.labels("skipped").inc()

    async def waiting(self, job: Job, *, note: str) -> None:
        """A dependency is not linked after all: back to waiting for it (bounded)."""
        await self._wait(job, reason="dependency", note=note)

    async def wait_for_creation(self, job: Job, *, note: str) -> None:
        """An update, void or delete that arrived before its object's create: wait for it (bounded)."""
        await self._wait(job, reason="create", note=note)

    async def _wait(self, job: Job, *, reason: str, note: str) -> None:
        async with self._sessionmaker() as session, session.begin():
            await repository.park(
                session,
                job=job,
                worker=self._worker,
                reason=reason,
                note=note,
                wait_seconds=self._settings.wait_limit_seconds,
            )
            if reason == "dependency":
                await repository.unpark_ready(session)

    async def expired(self, job: Job, *, note: str | None) -> None:
        """A job that waited past its limit ends: a void/delete of what never came is done (skipped);
        anything else fails, telling the platform what it waited for."""
        problem = service.expired_problem(job, note)
        if job.park_reason == "create" and service.absent_outcome(job) == "skipped":
            await self.skipped(job, note=problem.message)
            return
        await self._fail(job, describe(problem))

    async def error(self, job: Job, exc: BaseException) -> None:
        """Sort a failure: wait for the connection, retry later, or fail and tell the platform."""
        problem = describe(exc)
        if isinstance(exc, ParkedError):
            await self._park(job, problem)
        elif isinstance(exc, QboThrottled):
            pause = self._settings.throttle_pause_seconds / self._settings.qbo_time_scale
            # A throttle is the realm's state, not the job's fault: it does not use up an attempt.
            await self._retry(job, problem, delay=pause, in_doubt=False, count=False)
        elif isinstance(exc, RetryableError) or problem.retryable:
            if job.attempts >= len(self._settings.retry_delays) + 1:
                await self._fail(job, problem)
                return
            delay = service.retry_delay(
                job.attempts, self._settings.retry_delays, jitter=self._settings.retry_jitter
            )
            unknown = isinstance(exc, QboUnavailable) and exc.outcome_unknown
            await self._retry(job, problem, delay=delay, in_doubt=unknown, count=True)
        else:
            await self._fail(job, problem)

    async def _retry(self, job: Job, problem: Problem, *, delay: float, in_doubt: bool, count: bool) -> None:
        log.warning("export will be retried", extra={"job_id": job.id, "code": problem.code, "delay": delay})
        JOBS_RETRIED.labels(problem.code).inc()
        async with self._sessionmaker() as session, session.begin():
            values = {
                **problem.columns(),
                "status": "queued",
                "lease_until": None,
                "in_doubt": job.in_doubt or in_doubt,
                "next_attempt_at": func.now() + dt.timedelta(seconds=delay),
            }
            if not count:
                values["attempts"] = max(0, job.attempts - 1)
            await repository.finish(session, job_id=job.id, worker=self._worker, values=values)

    async def _park(self, job: Job, problem: Problem) -> None:
        log.warning("connection unusable; parking its jobs", extra={"job_id": job.id, "code": problem.code})
        async with self._sessionmaker() as session, session.begin():
            values = {
                **problem.columns(),
                "status": "parked",
                "park_reason": "connection",
                "lease_until": None,
                "attempts": max(0, job.attempts - 1),
                "wait_until": func.coalesce(
                    models.jobs.c.wait_until,
                    func.now() + dt.timedelta(seconds=self._settings.wait_limit_seconds),
                ),
            }
            if await repository.finish(session, job_id=job.id, worker=self._worker, values=values):
                await repository.park_connection(
                    session,
                    connection_id=job.connection_id,
                    note=problem.message,
                    wait_seconds=self._settings.wait_limit_seconds,
                )

    async def _fail(self, job: Job, problem: Problem) -> None:
        log.warning("export failed", extra={"job_id": job.id, "code": problem.code})
        async with self._sessionmaker() as session, session.begin():
            values = {**problem.columns(), "status": "failed", "finished_at": func.now(), "lease_until": None}
            if not await repository.finish(session, job_id=job.id, worker=self._worker, values=values):
                return
            event = SyncFailed(
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
            await self._outbox(session).add(
                "sync.failed", event, tenant_id=job.tenant_id, realm_id=job.realm_id
            )

    def _outbox(self, session: AsyncSession) -> Outbox:
        return Outbox(session, models.outbox)
