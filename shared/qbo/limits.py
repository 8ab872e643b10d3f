"""Intuit's per-realm limits, shared by every replica of every service (reference §6).

Each QBO call takes a *slot*: a row in ``qbo_limits.realm_calls`` written under a per-realm
advisory lock after counting the realm's calls in the last second and minute, the calls still in
flight and the batch calls of the last minute. A slot is never refused: the caller waits until the
realm has room. After a 429 the realm alone pauses (``realm_throttles``).

Written here rather than taken from a rate-limit library because the limits must hold across
processes and services, with sliding windows like Intuit's; Postgres is the one thing they share.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Identity,
    Index,
    String,
    Table,
    and_,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.db import schema_metadata

SCHEMA = "qbo_limits"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
EXTRA_MIGRATIONS = ((MIGRATIONS_DIR, SCHEMA),)
"""Pass as ``ServiceDefinition(extra_migrations=...)`` in a service that makes QBO calls."""

metadata = schema_metadata(SCHEMA)
realm_calls = Table(
    "realm_calls",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("realm_id", String(50), nullable=False),
    Column("batch", Boolean, nullable=False, server_default="false"),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Index("ix_realm_calls_realm_id_started_at", "realm_id", "started_at"),
)
realm_throttles = Table(
    "realm_throttles",
    metadata,
    Column("realm_id", String(50), primary_key=True),
    Column("until", DateTime(timezone=True), nullable=False),
)

# A call still "in flight" after this long belongs to a process that died (Intuit ends calls at 120 s).
STALE_CALL = dt.timedelta(seconds=150)


@dataclass(frozen=True)
class _Usage:
    now: dt.datetime
    throttled_until: dt.datetime | None
    second: list[dt.datetime]
    minute: list[dt.datetime]
    batch: list[dt.datetime]
    in_flight: int


class RealmLimiter:
    """Per-realm sliding windows (per second, per minute, batch per minute) and a concurrency cap.

    ``time_scale`` compresses time like the sandbox's setting (10 → a minute lasts 6 s); ``guard``
    widens each window a little because a call reaches QBO a few milliseconds after its slot.
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
        guard: float = 0.2,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._per_second, self._per_minute = per_second, per_minute
        self._concurrent, self._batch_per_minute = concurrent, batch_per_minute
        self._time_scale = time_scale
        self._second = dt.timedelta(seconds=(1 + guard) / time_scale + 0.03)
        self._minute = dt.timedelta(seconds=60 * (1 + guard / 4) / time_scale + 0.03)

    @contextlib.asynccontextmanager
    async def slot(self, realm_id: str, *, batch: bool = False) -> AsyncIterator[None]:
        """Wait (never fail) until ``realm_id`` has room for one call, hold the slot while inside."""
        call_id = await self._acquire(realm_id, batch=batch)
        try:
            yield
        finally:
            # Shielded: a cancelled caller must still give its concurrency slot back.
            await asyncio.shield(self._release(call_id))

    async def throttled(self, realm_id: str, *, seconds: float) -> None:
        """QBO answered 429 for ``realm_id``: no slot for it for ``seconds`` (scaled); others go on."""
        async with self._sessionmaker() as session, session.begin():
            until = func.clock_timestamp() + dt.timedelta(seconds=seconds / self._time_scale)
            stmt = insert(realm_throttles).values(realm_id=realm_id, until=until)
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["realm_id"], set_={"until": func.greatest(realm_throttles.c.until, until)}
                )
            )

    async def _acquire(self, realm_id: str, *, batch: bool) -> int:
        while True:
            async with self._sessionmaker() as session, session.begin():
                call_id, wait = await self._try(session, realm_id, batch=batch)
            if call_id is not None:
                return call_id
            await asyncio.sleep(min(max(wait, 0.005), 1.0))

    async def _try(self, session: AsyncSession, realm_id: str, *, batch: bool) -> tuple[int | None, float]:
        lock_key = zlib.crc32(f"qbo_limits:{realm_id}".encode())
        await session.execute(select(func.pg_advisory_xact_lock(lock_key)))
        usage = await self._usage(session, realm_id)
        wait = self._wait(usage, batch=batch)
        if wait > 0:
            return None, wait
        call_id = (
            await session.execute(
                realm_calls.insert()
                .values(realm_id=realm_id, batch=batch, started_at=usage.now)
                .returning(realm_calls.c.id)
            )
        ).scalar_one()
        await session.execute(
            delete(realm_calls).where(
                realm_calls.c.realm_id == realm_id,
                realm_calls.c.started_at < usage.now - max(self._minute, STALE_CALL),
            )
        )
        return int(call_id), 0.0

    async def _usage(self, session: AsyncSession, realm_id: str) -> _Usage:
        now: dt.datetime = (await session.execute(select(func.clock_timestamp()))).scalar_one()
        until = (
            await session.execute(
                select(realm_throttles.c.until).where(realm_throttles.c.realm_id == realm_id)
            )
        ).scalar_one_or_none()
        c = realm_calls.c
        rows = (
            await session.execute(
                select(c.started_at, c.batch, c.finished_at).where(
                    c.realm_id == realm_id,
                    or_(
                        c.started_at > now - self._minute,
                        and_(c.finished_at.is_(None), c.started_at > now - STALE_CALL),
                    ),
                )
            )
        ).all()
        return _Usage(
            now=now,
            throttled_until=until,
            second=sorted(r.started_at for r in rows if r.started_at > now - self._second),
            minute=sorted(r.started_at for r in rows if r.started_at > now - self._minute),
            batch=sorted(r.started_at for r in rows if r.batch and r.started_at > now - self._minute),
            in_flight=sum(1 for r in rows if r.finished_at is None),
        )

    def _wait(self, usage: _Usage, *, batch: bool) -> float:
        """Seconds until a call may start (0 = now)."""
        waits = [0.0]
        if usage.throttled_until is not None:
            waits.append((usage.throttled_until - usage.now).total_seconds())
        for starts, cap, span in (
            (usage.second, self._per_second, self._second),
            (usage.minute, self._per_minute, self._minute),
            (usage.batch if batch else [], self._batch_per_minute, self._minute),
        ):
            if len(starts) >= cap:
                waits.append((starts[len(starts) - cap] + span - usage.now).total_seconds())
        if usage.in_flight >= self._concurrent:
            waits.append(0.02)
        return max(waits)

    async def _release(self, call_id: int) -> None:
        async with self._sessionmaker() as session, session.begin():
            await session.execute(
                update(realm_calls)
                .where(realm_calls.c.id == call_id)
                .values(finished_at=func.clock_timestamp())
            )
