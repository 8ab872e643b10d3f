"""``shared.db.autocommit``: statements outside a transaction, leaving pooled connections transactional."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import autocommit, create_sessionmaker

pytestmark = pytest.mark.integration
NOW = text("SELECT now()")  # the time the transaction started


async def test_reads_run_outside_a_transaction_and_the_connection_is_transactional_again(
    engine: AsyncEngine,
) -> None:
    sessionmaker = create_sessionmaker(engine)
    async with autocommit(sessionmaker) as session:
        first = (await session.execute(NOW)).scalar()
        await asyncio.sleep(0.01)
        second = (await session.execute(NOW)).scalar()
    assert first != second  # each statement its own transaction: no BEGIN was sent
    for _ in range(3):  # whichever pooled connection comes back, it is in a transaction again
        async with sessionmaker() as session, session.begin():
            first = (await session.execute(NOW)).scalar()
            await asyncio.sleep(0.01)
            second = (await session.execute(NOW)).scalar()
        assert first == second
