"""The engine's pool: a connection cut while idle is replaced before use, without a ping per checkout."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import create_engine

pytestmark = pytest.mark.integration


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _cut(database_url: str, pid: int) -> None:
    """End our own idle backend ``pid`` from another engine, as a Postgres restart would."""
    other = create_engine(database_url, application_name="qbb-tests-pool-cutter", pool_size=1)
    try:
        async with other.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            for _ in range(100):  # the backend takes a moment to exit
                gone = await conn.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
                )
                if gone.scalar_one() == 0:
                    break
                await conn.execute(text("SELECT pg_sleep(0.02)"))
    finally:
        await other.dispose()


async def test_a_connection_cut_while_idle_is_replaced_before_the_next_transaction(database_url: str) -> None:
    engine = create_engine(database_url, application_name="qbb-tests-pool", pool_size=1, idle_ping_seconds=0)
    try:
        pid = await _backend_pid(engine)
        await _cut(database_url, pid)

        assert await _backend_pid(engine) != pid  # answered on a fresh connection, no error
    finally:
        await engine.dispose()


async def test_a_connection_in_steady_use_is_not_pinged(database_url: str) -> None:
    engine = create_engine(
        database_url, application_name="qbb-tests-pool", pool_size=1, idle_ping_seconds=3600
    )
    try:
        pid = await _backend_pid(engine)
        await _cut(database_url, pid)

        # Not idle long enough to be pinged: the cut shows in the transaction itself (which a
        # consumer retries), and the pool then replaces the connection.
        with pytest.raises(Exception, match="connection"):
            await _backend_pid(engine)
        assert await _backend_pid(engine) != pid
    finally:
        await engine.dispose()
