"""The per-process loop that takes ready jobs and writes them, one task per realm.

Jobs are claimed with ``FOR UPDATE SKIP LOCKED``, so replicas share the work without taking the
same job twice; a realm being written by this process is not claimed again until its task ends,
so a slow or throttled realm never holds up the others, unless it has a backlog: while each of its
rounds in flight took a full batch, it takes up to ``realm_rounds`` at once. A job whose holder
died is taken again when its lease runs out, marked *in doubt*, and resolved by lookup before any
new write.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import time
import uuid
from collections import defaultdict

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.exporter import repository, service
from services.exporter.export import Exporter
from services.exporter.service import Job
from services.exporter.settings import ExporterSettings
from shared.db import asyncpg_dsn, autocommit
from shared.worker import Worker

log = logging.getLogger(__name__)
# The share of a lease this process trusts itself with: the rest covers clock skew and a send in flight.
_SAFE_SHARE = 0.8
CLAIM_CANDIDATES = 20  # realms with due jobs a claim reads, oldest first, for its places


def worker_name() -> str:
    """A name unique to this process, written on the jobs it holds."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:64]


class Dispatcher:
    """Claims ready jobs and hands each realm's share to an ``Exporter`` task.

    Each step claims up to ``batch_size`` jobs of each of up to ``claim_limit / batch_size`` realms
    not busy here (``service.busy_realms``), and no more realms with ready jobs than it has round
    slots free (``service.claim_room``: under load, jobs gather and go several to a call); it goes
    again at once while it finds work: a NOTIFY (a job recorded, a realm's task ended) wakes it, or,
    when it had no slot free, a timer set for when the first slot frees by age; never a poll
    interval. The poll only runs the sweep (waits that expired, dependents a crossed link/park left
    waiting) and covers lost notifications.
    """

    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        claims: async_sessionmaker[AsyncSession],
        exporter: Exporter,
        settings: ExporterSettings,
        worker: str,
    ) -> None:
        """``claims``: sessions of a pool whose connections open with ``repository.CLAIM_PLANNING``,
        for the claim alone (one statement, outside a transaction)."""
        self._sessionmaker, self._claims, self._exporter, self._settings, self._worker = (
            sessionmaker,
            claims,
            exporter,
            settings,
            worker,
        )
        self._rounds: dict[str, list[service.Round]] = {}  # realm → its rounds in flight
        self._drained: set[str] = set()  # realms with rounds in flight whose last claim found none ready
        self._held: set[str] = set()
        # Until when (monotonic) this process may still send each held job: a lease is only as good
        # as its last renewal, so a process that stalled (SIGSTOP, a long GC, a lost database) stops.
        self._lease_ok: dict[str, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._swept_at = 0.0
        self._timer: asyncio.TimerHandle | None = None  # the next wake-up for a slot growing free
        self._loop = Worker(
            name="exporter dispatcher",
            step=self._step,
            poll_seconds=settings.poll_seconds,
            dsn=asyncpg_dsn(settings.database_url),
            channel=repository.NOTIFY_CHANNEL,
        )
        self._leases = Worker(
            name="exporter leases", step=self._renew, poll_seconds=settings.lease_seconds / 3
        )

    def wake(self) -> None:
        """Look for work now rather than at the next poll."""
        self._loop.wake()

    async def run(self) -> None:
        """Dispatch until cancelled."""
        heartbeat = asyncio.create_task(self._leases.run(), name="exporter-leases")
        try:
            await self._loop.run()
        finally:
            if self._timer is not None:
                self._timer.cancel()
            heartbeat.cancel()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(heartbeat, *self._tasks, return_exceptions=True)

    def holds(self, job: Job) -> bool:
        """Whether this process still holds ``job``'s lease (checked before each send)."""
        return time.monotonic() < self._lease_ok.get(job.id, 0.0)

    async def _step(self) -> bool:
        """Sweep when due, then one claim (one statement); True when it found work."""
        if time.monotonic() - self._swept_at >= self._settings.poll_seconds:
            await self._sweep()
        claimed_at = time.monotonic()
        # A round takes at most claim_limit jobs: a smaller limit leaves a realm's backlog to replicas.
        per_realm = min(self._settings.batch_size, self._settings.claim_limit)
        young = self._settings.round_young_seconds
        room = service.claim_room(
            self._rounds, now=claimed_at, slots=self._settings.round_slots, young=young, batch_size=per_realm
        )
        if not room:  # a round ending wakes the loop; so does the first of them to grow old
            again = service.room_again(self._rounds, now=claimed_at, young=young, batch_size=per_realm)
            if again is not None:
                self._wake_in(again)
            return False
        places = max(1, math.ceil(self._settings.claim_limit / per_realm))
        # Realms read for them: at least CLAIM_CANDIDATES, however few places claim_limit gives, so a
        # few realms whose due jobs all wait never take the whole window.
        candidates = max(places, CLAIM_CANDIDATES)
        busy = service.busy_realms(
            self._rounds,
            batch_size=per_realm,
            rounds=self._settings.realm_rounds,
            drained=self._drained,
        )
        async with autocommit(self._claims) as session:  # one statement: no BEGIN, no COMMIT
            rows = await repository.claim(
                session,
                planned=True,
                worker=self._worker,
                realms=min(room, places),
                candidates=candidates,
                per_realm=per_realm,
                lease_seconds=self._settings.lease_seconds,
                busy_realms=busy,
                # Its own jobs are never taken again while a round of it holds them, even where
                # their database lease ran out (a stall): that round has stopped sending them.
                held=sorted(self._held),
            )
        claimed = _by_realm(rows)
        backfill = {row["realm_id"] for row in rows if row["history"]}
        if len(claimed) < min(room, places):  # it ran out of ready realms, not of places
            self._drained |= {r for r in self._rounds if r not in busy and r not in claimed}
        for realm_id, jobs in claimed.items():
            going = service.Round(len(jobs), history=realm_id in backfill, started=claimed_at)
            self._rounds.setdefault(realm_id, []).append(going)
            self._held |= {job.id for job in jobs}
            for job in jobs:
                self._lease_ok[job.id] = claimed_at + self._settings.lease_seconds * _SAFE_SHARE
            task = asyncio.create_task(self._work(realm_id, jobs, going), name=f"exporter-realm-{realm_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return bool(rows)

    def _wake_in(self, seconds: float) -> None:
        """Wake the loop in ``seconds``, unless a wake-up still to come is due sooner: one timer."""
        loop = asyncio.get_running_loop()
        due = loop.time() + seconds
        if self._timer is not None and loop.time() < self._timer.when() <= due:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(due, self._loop.wake)

    async def _sweep(self) -> None:
        """Jobs that waited past the limit end now, with the reason (every wait ends); dependents
        whose dependencies are all linked (a link and a park that crossed) go back to the queue."""
        self._swept_at = time.monotonic()
        async with self._sessionmaker() as session, session.begin():
            await repository.unpark_ready(session)
            rows = await repository.claim_expired_waits(
                session, worker=self._worker, lease_seconds=self._settings.lease_seconds
            )
        await self._exporter.expire(rows)

    async def _work(self, realm_id: str, jobs: list[Job], going: service.Round) -> None:
        try:
            await self._exporter.export(jobs, holds=self.holds)
        except Exception:
            # The jobs stay running; their leases run out and they are retried as in doubt.
            log.exception("writing a realm's jobs failed", extra={"realm_id": realm_id})
        finally:
            rounds = self._rounds.get(realm_id, [])
            rounds.remove(going)
            if not rounds:
                self._rounds.pop(realm_id, None)
            self._drained.discard(realm_id)  # a round ended: what waited for it may be ready
            self._held -= {job.id for job in jobs}
            for job in jobs:
                self._lease_ok.pop(job.id, None)
            self._loop.wake()

    async def _renew(self) -> bool:
        """Keep holding the jobs being written (a slow or throttled realm must not look crashed)."""
        renewing, started = sorted(self._held), time.monotonic()
        if not renewing:
            return False
        async with self._sessionmaker() as session, session.begin():
            await repository.renew_leases(
                session, worker=self._worker, job_ids=renewing, lease_seconds=self._settings.lease_seconds
            )
        for job_id in renewing:
            if job_id in self._lease_ok:
                self._lease_ok[job_id] = started + self._settings.lease_seconds * _SAFE_SHARE
        return False


def _by_realm(rows: list[RowMapping]) -> dict[str, list[Job]]:
    grouped: dict[str, list[Job]] = defaultdict(list)
    for row in rows:
        grouped[row["realm_id"]].append(Job.from_row(row))
    return grouped
