"""The per-process loop that takes ready jobs and writes them, one task per realm.

Jobs are claimed with ``FOR UPDATE SKIP LOCKED``, so replicas share the work without taking the
same job twice; a realm being written by this process is not claimed again until its task ends,
so a slow or throttled realm never holds up the others. A job whose holder died is taken again
when its lease runs out, marked *in doubt*, and resolved by lookup before any new write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections import defaultdict

import asyncpg
from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.exporter import repository
from services.exporter.outcomes import Outcomes
from services.exporter.service import Job
from services.exporter.settings import ExporterSettings
from services.exporter.writer import RealmWriter
from shared.db import asyncpg_dsn

log = logging.getLogger(__name__)
# The share of a lease this process trusts itself with: the rest covers clock skew and a send in flight.
_SAFE_SHARE = 0.8


def worker_name() -> str:
    """A name unique to this process, written on the jobs it holds."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:64]


class Dispatcher:
    """Claims ready jobs and hands each realm's share to a ``RealmWriter`` task."""

    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        writer: RealmWriter,
        outcomes: Outcomes,
        settings: ExporterSettings,
        worker: str,
    ) -> None:
        self._sessionmaker, self._writer, self._settings, self._worker = (
            sessionmaker,
            writer,
            settings,
            worker,
        )
        self._outcomes = outcomes
        self._wake = asyncio.Event()
        self._busy: set[str] = set()
        self._held: set[str] = set()
        # Until when (monotonic) this process may still send each held job: a lease is only as good
        # as its last renewal, so a process that stalled (SIGSTOP, a long GC, a lost database) stops.
        self._lease_ok: dict[str, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        """Look for work now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Dispatch until cancelled."""
        listener = await self._listen()
        heartbeat = asyncio.create_task(self._heartbeat(), name="exporter-leases")
        try:
            while True:
                try:
                    await self._round()
                except Exception:
                    log.exception("dispatcher round failed; trying again shortly")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._settings.poll_seconds)
                self._wake.clear()
        finally:
            heartbeat.cancel()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(heartbeat, *self._tasks, return_exceptions=True)
            if listener is not None:
                await listener.close()

    def holds(self, job: Job) -> bool:
        """Whether this process still holds ``job``'s lease (checked before each send)."""
        return time.monotonic() < self._lease_ok.get(job.id, 0.0)

    async def _round(self) -> None:
        await self._end_expired_waits()
        claimed_at = time.monotonic()
        async with self._sessionmaker() as session, session.begin():
            await repository.unpark_ready(session)
            rows = await repository.claim(
                session,
                worker=self._worker,
                limit=self._settings.claim_limit,
                lease_seconds=self._settings.lease_seconds,
                busy_realms=sorted(self._busy),
            )
        for realm_id, jobs in _by_realm(rows).items():
            self._busy.add(realm_id)
            self._held |= {job.id for job in jobs}
            for job in jobs:
                self._lease_ok[job.id] = claimed_at + self._settings.lease_seconds * _SAFE_SHARE
            task = asyncio.create_task(self._work(realm_id, jobs), name=f"exporter-realm-{realm_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _end_expired_waits(self) -> None:
        """Jobs that waited past the limit end now, with the reason (every wait ends)."""
        async with self._sessionmaker() as session, session.begin():
            rows = await repository.claim_expired_waits(
                session, worker=self._worker, lease_seconds=self._settings.lease_seconds
            )
        for row in rows:
            await self._outcomes.expired(Job.from_row(row), note=row["last_error"])

    async def _work(self, realm_id: str, jobs: list[Job]) -> None:
        try:
            await self._writer.write(jobs, holds=self.holds)
        except Exception:
            # The jobs stay running; their leases run out and they are retried as in doubt.
            log.exception("writing a realm's jobs failed", extra={"realm_id": realm_id})
        finally:
            self._busy.discard(realm_id)
            self._held -= {job.id for job in jobs}
            for job in jobs:
                self._lease_ok.pop(job.id, None)
            self._wake.set()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self._settings.lease_seconds / 3)
            renewing, started = sorted(self._held), time.monotonic()
            try:
                async with self._sessionmaker() as session, session.begin():
                    await repository.renew_leases(
                        session,
                        worker=self._worker,
                        job_ids=renewing,
                        lease_seconds=self._settings.lease_seconds,
                    )
            except Exception:
                log.exception("renewing job leases failed")
                continue
            for job_id in renewing:
                if job_id in self._lease_ok:
                    self._lease_ok[job_id] = started + self._settings.lease_seconds * _SAFE_SHARE

    async def _listen(self) -> asyncpg.Connection | None:
        try:
            conn = await asyncpg.connect(asyncpg_dsn(self._settings.database_url))
            await conn.add_listener(repository.NOTIFY_CHANNEL, lambda *_: self._wake.set())
            return conn
        except (OSError, asyncpg.PostgresError):
            log.warning("exporter dispatcher cannot LISTEN; polling only")
            return None


def _by_realm(rows: list[RowMapping]) -> dict[str, list[Job]]:
    grouped: dict[str, list[Job]] = defaultdict(list)
    for row in rows:
        grouped[row["realm_id"]].append(Job.from_row(row))
    return grouped
