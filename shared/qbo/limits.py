"""Intuit's per-realm limits, shared by every replica of every service (reference §6).

A process takes a realm's call budget in *leases*: one transaction grants a few calls at once
(a row in ``qbo_limits.realm_leases``, written under a per-realm advisory lock after counting the
realm's other leases), the process spends them without asking again, and gives back what it did
not use when the lease closes. ``shared.qbo.budget`` holds the arithmetic: a call counts from its
grant until a window's span after the last call of its lease ended, so wherever it reached QBO in
between, QBO can never count more than the limit — no 429 of our own making. An idle realm's
first call takes one short transaction and never waits. After a 429 the realm alone pauses
(``realm_throttles``), for QBO's ``Retry-After`` if it sent one, else a backoff from one second up
to Intuit's minute.

Written here rather than taken from a rate-limit library because the limits must hold across
processes and services, with QBO's sliding windows; Postgres is the one thing they share.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Identity,
    Index,
    Integer,
    String,
    Table,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.db import autocommit, schema_metadata
from shared.qbo import budget

SCHEMA = "qbo_limits"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
EXTRA_MIGRATIONS = ((MIGRATIONS_DIR, SCHEMA),)
"""Pass as ``ServiceDefinition(extra_migrations=...)`` in a service that makes QBO calls."""

metadata = schema_metadata(SCHEMA)
realm_leases = Table(
    "realm_leases",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("realm_id", String(50), nullable=False),
    Column("batch", Boolean, nullable=False, server_default="false"),
    Column("calls", Integer, nullable=False),
    Column("granted_at", DateTime(timezone=True), nullable=False),
    # Set when the lease closes: the time its last call came back (its calls count from then on).
    Column("closed_at", DateTime(timezone=True), nullable=True),
    Index("ix_realm_leases_realm_id_granted_at", "realm_id", "granted_at"),
)
realm_throttles = Table(
    "realm_throttles",
    metadata,
    Column("realm_id", String(50), primary_key=True),
    Column("until", DateTime(timezone=True), nullable=False),
    Column("pause_seconds", Float, nullable=False, server_default="0"),
)

# Rows kept after closing: long enough for every window and for a dead process's open lease.
KEEP = dt.timedelta(seconds=budget.STALE_SECONDS + 60)


@dataclass
class _Lease:
    id: int
    left: int
    usable_until: float  # time.monotonic(); no call starts on this lease after it
    in_flight: int = 0
    used: int = 0
    closing: bool = False
    last_ended: float | None = None  # time.monotonic() when its last call came back
    expiry: asyncio.TimerHandle | None = None  # closes it when its time is up, if nothing else did

    def usable(self) -> bool:
        return self.left > 0 and time.monotonic() < self.usable_until


@dataclass
class _Realm:
    """One realm's budget in this process (per kind of call: plain or batch)."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: int = 0
    current: _Lease | None = None


class RealmLimiter:
    """Per-realm windows (per second, per minute, batch per minute) and a concurrency cap.

    ``time_scale`` compresses time like the sandbox's setting (10 → a minute lasts 6 s).
    ``least`` calls are leased at a time even for one caller (the next calls then need no
    transaction); a lease is spent within ``lease_seconds`` (scaled) or its rest given back.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        per_second: int = 10,
        per_minute: int = 500,
        concurrent: int = 10,
        batch_per_minute: int = 40,
        time_scale: float = 1.0,
        least: int | None = None,
        lease_seconds: float = 0.5,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._limits = budget.Limits.scaled(
            per_second=per_second,
            per_minute=per_minute,
            concurrent=concurrent,
            batch_per_minute=batch_per_minute,
            time_scale=time_scale,
        )
        self._time_scale = time_scale
        self._least = least if least is not None else max(1, min(per_second, concurrent) // 2)
        self._lease_seconds = lease_seconds / time_scale
        self._realms: dict[tuple[str, bool], _Realm] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @contextlib.asynccontextmanager
    async def slot(self, realm_id: str, *, batch: bool = False) -> AsyncIterator[None]:
        """Wait (never fail) until ``realm_id`` has room for one call, hold the slot while inside."""
        lease = await self._take(realm_id, batch=batch)
        try:
            yield
        finally:
            lease.in_flight -= 1
            lease.last_ended = time.monotonic()
            self._close_if_spent(lease, self._realms[(realm_id, batch)])

    async def aclose(self) -> None:
        """Give back what this process holds and wait until it is written: a stopping replica's
        unspent leases would otherwise keep the realm's budget from the others until they go stale,
        and a return still on its way when the event loop ends would be lost."""
        for local in self._realms.values():
            self._give_back(local)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def throttled(self, realm_id: str, *, seconds: float, retry_after: float | None = None) -> None:
        """QBO answered 429 for ``realm_id``: no call for it for a while; other realms go on.

        The pause is ``retry_after`` if QBO sent one, else one second doubling while 429s keep
        coming, up to ``seconds`` (both scaled by ``time_scale``).
        """
        for kind in (False, True):  # what this process still holds for the realm is given back
            if (local := self._realms.get((realm_id, kind))) is not None:
                self._give_back(local)
        async with self._sessionmaker() as session, session.begin():
            await _lock(session, realm_id)
            now: dt.datetime = (await session.execute(select(func.clock_timestamp()))).scalar_one()
            t = realm_throttles.c
            found = (
                await session.execute(select(t.until, t.pause_seconds).where(t.realm_id == realm_id))
            ).first()
            pause = budget.throttle_pause(
                retry_after=retry_after,
                previous=found.pause_seconds if found else None,
                since_previous=(now - found.until).total_seconds() if found else None,
                first=1.0 / self._time_scale,
                longest=seconds / self._time_scale,
            )
            until = now + dt.timedelta(seconds=pause)
            stmt = insert(realm_throttles).values(realm_id=realm_id, until=until, pause_seconds=pause)
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["realm_id"],
                    set_={"until": func.greatest(t.until, until), "pause_seconds": pause},
                )
            )

    async def _take(self, realm_id: str, *, batch: bool) -> _Lease:
        local = self._realms.setdefault((realm_id, batch), _Realm())
        local.waiting += 1
        try:
            if local.current is None or not local.current.usable():
                async with local.lock:
                    while local.current is None or not local.current.usable():
                        await self._lease(realm_id, batch, local)
            lease = local.current
            assert lease is not None  # the loop above ends only with a usable lease
            lease.left -= 1
            lease.used += 1
            lease.in_flight += 1
            return lease
        finally:
            local.waiting -= 1

    async def _lease(self, realm_id: str, batch: bool, local: _Realm) -> None:
        """One try at a new lease for the callers waiting now; sleeps until worth asking again if none."""
        grant = asyncio.ensure_future(self._grant(realm_id, batch=batch, waiting=local.waiting))
        try:
            lease, wait = await asyncio.shield(grant)
        except asyncio.CancelledError:
            # The grant may still land: its budget then serves others here, or is given back.
            grant.add_done_callback(lambda g: self._adopt(g, local))
            raise
        if lease is None:
            await asyncio.sleep(min(wait, 1.0))
            return
        self._install(lease, local)

    def _adopt(self, grant: asyncio.Future[tuple[_Lease | None, float]], local: _Realm) -> None:
        if not grant.cancelled() and grant.exception() is None and (lease := grant.result()[0]) is not None:
            self._install(lease, local)

    def _install(self, lease: _Lease, local: _Realm) -> None:
        previous, local.current = local.current, lease
        if previous is not None:
            previous.left = 0
            self._close_if_spent(previous, local)
        # Closed when its time is up even if no call comes back to it.
        lease.expiry = asyncio.get_running_loop().call_later(
            max(lease.usable_until - time.monotonic(), 0) + 0.001, self._close_if_spent, lease, local
        )

    async def _grant(self, realm_id: str, *, batch: bool, waiting: int) -> tuple[_Lease | None, float]:
        async with self._sessionmaker() as session, session.begin():
            await _lock(session, realm_id)
            now, until, held = await _state(session, realm_id)
            room = budget.room(
                held,
                now=now.timestamp(),
                limits=self._limits,
                batch=batch,
                throttled_until=until.timestamp() if until else None,
            )
            calls = budget.lease_size(free=room.calls, waiting=waiting, least=self._least)
            if calls == 0:
                return None, room.wait
            # The new lease, and the realm's rows no window needs any more gone, in one statement.
            lease_id = (
                await session.execute(
                    text("""
                    WITH gone AS (
                        DELETE FROM qbo_limits.realm_leases WHERE realm_id = :realm AND granted_at < :old)
                    INSERT INTO qbo_limits.realm_leases (realm_id, batch, calls, granted_at)
                    VALUES (:realm, :batch, :calls, :now) RETURNING id
                    """),
                    {"realm": realm_id, "old": now - KEEP, "batch": batch, "calls": calls, "now": now},
                )
            ).scalar_one()
        return _Lease(int(lease_id), calls, time.monotonic() + self._lease_seconds), 0.0

    def _give_back(self, local: _Realm) -> None:
        """No more calls on the realm's current lease: it closes once its calls in flight are back."""
        if local.current is not None:
            local.current.left = 0
            self._close_if_spent(local.current, local)

    def _close_if_spent(self, lease: _Lease, local: _Realm) -> None:
        if lease.closing or lease.in_flight or lease.usable():
            return
        lease.closing = True
        if lease.expiry is not None:
            lease.expiry.cancel()
        if local.current is lease:
            local.current = None
        # Shielded in a task of its own: a cancelled caller must still give the budget back.
        task = asyncio.get_running_loop().create_task(self._close(lease))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close(self, lease: _Lease) -> None:
        async with autocommit(self._sessionmaker) as session:  # one statement: no transaction of its own
            leases = realm_leases.c
            if lease.used == 0:
                await session.execute(delete(realm_leases).where(leases.id == lease.id))
            else:
                # Its calls count until a window after the last of them came back, not after the
                # lease closed (up to ``lease_seconds`` later, if it ran out unspent): in the
                # database's clock, so replicas' clocks need not agree.
                ended_ago = time.monotonic() - (lease.last_ended or time.monotonic())
                await session.execute(
                    update(realm_leases)
                    .where(leases.id == lease.id)
                    .values(
                        calls=lease.used, closed_at=func.clock_timestamp() - dt.timedelta(seconds=ended_ago)
                    )
                )


async def _lock(session: AsyncSession, realm_id: str) -> None:
    """Serialise the grants of one realm across processes (released at the transaction's end)."""
    await session.execute(select(func.pg_advisory_xact_lock(zlib.crc32(f"qbo_limits:{realm_id}".encode()))))


async def _state(
    session: AsyncSession, realm_id: str
) -> tuple[dt.datetime, dt.datetime | None, list[budget.Held]]:
    """The database's time, the realm's pause after a 429 (if any) and the leases that still count,
    in one statement; read under the realm's lock, so no grant or pause of another process is missed."""
    rows = (
        await session.execute(
            text("""
            SELECT n.now, t.until, l.calls, l.batch, l.granted_at, l.closed_at
            FROM (SELECT clock_timestamp() AS now) AS n
            LEFT JOIN qbo_limits.realm_throttles t ON t.realm_id = :realm
            LEFT JOIN qbo_limits.realm_leases l ON l.realm_id = :realm
                 AND (l.closed_at IS NULL OR l.closed_at > n.now - CAST(:keep AS interval))
            """),
            {"realm": realm_id, "keep": KEEP},
        )
    ).all()
    held = [
        budget.Held(
            r.calls, r.batch, r.granted_at.timestamp(), r.closed_at.timestamp() if r.closed_at else None
        )
        for r in rows
        if r.calls is not None
    ]
    return rows[0].now, rows[0].until, held
