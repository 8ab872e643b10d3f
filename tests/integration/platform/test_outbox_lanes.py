"""The outbox relay publishes live rows before the rows of a history lane staged ahead of them (issue 13)."""

from __future__ import annotations

from typing import Any

import aio_pika
import pytest
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.contracts.envelope import Envelope
from shared.db import create_sessionmaker
from shared.messaging import outbox, topology
from tests.helpers import testkit
from tests.helpers.statements import counting_statements

pytestmark = pytest.mark.integration
HISTORY_QUEUE = "testkit.history"


def _row(envelope: Envelope, exchange: str | None = None) -> dict[str, Any]:
    dumped = envelope.model_dump(mode="json", exclude_none=True)
    return {"message_id": envelope.id, "routing_key": envelope.type, "exchange": exchange, "envelope": dumped}


async def _one_step(
    engine: AsyncEngine,
    database_url: str,
    connection: Any,
    channel: Any,
    namespace: str,
    **options: Any,
) -> tuple[outbox.OutboxRelay, Any]:
    """A relay of ``testkit.outbox`` and the exchanges of one step of it, without its loop."""
    relay = outbox.OutboxRelay(
        sessionmaker=create_sessionmaker(engine),
        connection=connection,
        table=testkit.outbox,
        database_url=database_url,
        namespace=namespace,
        **options,
    )
    exchanges = outbox._Exchanges(channel, await topology.declare_exchange(channel, namespace), namespace)
    return relay, exchanges


async def test_a_live_row_staged_behind_history_rows_is_published_first(
    engine: AsyncEngine, database_url: str, amqp_url: str, clean_namespace: str
) -> None:
    queue = topology.queue_name(HISTORY_QUEUE, clean_namespace)
    history = [Envelope.new("invoice.approved", {"n": n}) for n in range(5)]
    live = Envelope.new("invoice.approved", {"n": "live"})
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        await channel.declare_queue(queue, durable=False, auto_delete=False)
        async with engine.begin() as conn:
            await conn.execute(
                insert(testkit.outbox), [_row(e, f"{outbox.QUEUE_TARGET}{queue}") for e in history]
            )
            await conn.execute(insert(testkit.outbox), [_row(live)])
        relay, exchanges = await _one_step(
            engine,
            database_url,
            connection,
            channel,
            clean_namespace,
            batch_size=1,
            history_queues=(HISTORY_QUEUE,),
        )
        settled = await relay.publish_batch(exchanges)
        async with engine.connect() as conn:
            left = set((await conn.execute(select(testkit.outbox.c.message_id))).scalars())
    finally:
        cleanup = await connection.channel()
        await cleanup.queue_delete(queue)
        await connection.close()

    assert settled == 1
    assert left == {e.id for e in history}  # the live row went first, though staged last


async def test_a_relay_step_takes_its_rows_out_of_the_table_with_one_statement(
    engine: AsyncEngine, database_url: str, amqp_url: str, clean_namespace: str
) -> None:
    """Read and deleted at once (a row is put back only if it could not be published): the relay
    read its rows, published them, then deleted them, two statements a step besides the transaction."""
    events = [Envelope.new("invoice.approved", {"n": n}) for n in range(5)]
    name = testkit.outbox.fullname
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        async with engine.begin() as conn:
            await conn.execute(insert(testkit.outbox), [_row(e) for e in events])
        relay, exchanges = await _one_step(engine, database_url, connection, channel, clean_namespace)
        prefixes = (f"SELECT {name}", f"DELETE FROM {name}", f"UPDATE {name}", f"INSERT INTO {name}")
        with counting_statements(prefixes, on=engine.sync_engine) as statements:
            settled = await relay.publish_batch(exchanges)
        async with engine.connect() as conn:
            left = set((await conn.execute(select(testkit.outbox.c.message_id))).scalars())
    finally:
        await connection.close()

    assert settled >= 5
    assert not left & {e.id for e in events}
    assert dict(statements) == {f"DELETE FROM {name}": 1}


async def test_a_step_that_publishes_nothing_leaves_every_row_in_place_uncharged(
    engine: AsyncEngine, database_url: str, amqp_url: str, clean_namespace: str
) -> None:
    """Taken out as they are read, rows go back with the rollback when the broker takes none."""
    events = [Envelope.new("invoice.approved", {"n": n}) for n in range(3)]
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        async with engine.begin() as conn:
            await conn.execute(insert(testkit.outbox), [_row(e) for e in events])
        relay, exchanges = await _one_step(
            engine, database_url, connection, channel, clean_namespace, publish_timeout=2.0
        )
        await channel.close()  # every publish fails on the broker's side
        settled = await relay.publish_batch(exchanges)
        async with engine.connect() as conn:
            t = testkit.outbox
            left = {
                r.message_id: r.publish_failures
                for r in await conn.execute(select(t.c.message_id, t.c.publish_failures))
            }
    finally:
        async with engine.begin() as conn:  # nobody else's step may publish them later
            await conn.execute(
                delete(testkit.outbox).where(testkit.outbox.c.message_id.in_([e.id for e in events]))
            )
        await connection.close()

    assert settled == -1
    assert {e.id: left.get(e.id) for e in events} == {e.id: 0 for e in events}
