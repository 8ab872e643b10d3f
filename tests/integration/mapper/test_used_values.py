"""What the mapper remembers of the values an event uses, without serialising a connection's events."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.mapper import repository
from shared.db import create_engine

pytestmark = pytest.mark.integration

VALUES = [("currencies", "USD"), ("tax_rates", "California"), ("payment_methods", "card")]


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, application_name="qbb-tests", pool_size=3)
    yield engine
    await engine.dispose()


async def _seen(engine: AsyncEngine, connection_id: str) -> set[tuple[str, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT kind, value FROM mapper.platform_values WHERE connection_id = :c"),
            {"c": connection_id},
        )
        return {(str(k), str(v)) for k, v in rows.all()}


async def test_an_event_does_not_wait_for_another_open_event_of_its_connection_that_used_the_same_values(
    engine: AsyncEngine,
) -> None:
    """Recording a value seen before updated its row, which locked it until the event's transaction
    ended: each event of a connection waited for the commit of the one before it (measured: 16 ms
    of lock wait per invoice in the benchmark)."""
    connection_id = f"conn_{uuid.uuid4().hex[:12]}"
    async with AsyncSession(engine) as first, first.begin():
        await repository.record_used_values(first, connection_id=connection_id, values=VALUES)
    try:
        async with AsyncSession(engine) as open_event, open_event.begin():
            await repository.record_used_values(open_event, connection_id=connection_id, values=VALUES)
            async with asyncio.timeout(10), AsyncSession(engine) as next_event, next_event.begin():
                await repository.record_used_values(
                    next_event, connection_id=connection_id, values=[*VALUES, ("currencies", "EUR")]
                )
        assert await _seen(engine, connection_id) == {*VALUES, ("currencies", "EUR")}
    finally:
        async with engine.begin() as conn:
            await conn.execute(
                text("DELETE FROM mapper.platform_values WHERE connection_id = :c"), {"c": connection_id}
            )
