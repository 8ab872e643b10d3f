"""Messages waiting together are handled in one transaction, each with its own outcome."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.contracts.envelope import Envelope
from shared.messaging import topology
from tests.helpers import testkit
from tests.helpers.broker import bind_probe, broker_channel, collect, envelopes, headers_of, publish
from tests.helpers.factories import customer_upserted, vendor_upserted
from tests.helpers.running import serving_testkit, wait_for_applied
from tests.helpers.statements import counting_statements

pytestmark = pytest.mark.integration


async def _transactions(engine: AsyncEngine) -> tuple[int, int, int]:
    """Rows applied, distinct events among them, distinct transactions that wrote them (``xmin``)."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT count(*), count(DISTINCT event_id), count(DISTINCT xmin::text)"
                    " FROM testkit.applied"
                )
            )
        ).one()
    return int(row[0]), int(row[1]), int(row[2])


async def test_a_waiting_burst_shares_transactions_and_a_failing_message_among_it_costs_the_others_nothing(
    engine: AsyncEngine, database_url: str, amqp_url: str, clean_namespace: str
) -> None:
    good = [vendor_upserted() for _ in range(40)]
    poison = vendor_upserted(name="poison")
    async with broker_channel(amqp_url) as (_, channel):
        async with serving_testkit(database_url, amqp_url, clean_namespace):
            pass  # declares the queues; the burst below waits in them while nothing consumes
        dlq_name = topology.dead_letter_queue_name(topology.queue_name("testkit.vendors", clean_namespace))
        dlq = await channel.declare_queue(dlq_name, durable=True, arguments={"x-queue-type": "quorum"})
        for event in [*good[:20], poison, *good[20:]]:
            await publish(channel, clean_namespace, event)
        async with serving_testkit(database_url, amqp_url, clean_namespace):
            applied = await wait_for_applied(engine, at_least=40, timeout=60)
            dead = await collect(dlq, count=1, timeout=60)
        rows, events, transactions = await _transactions(engine)

    assert (
        applied == rows == events == 40
    )  # every good event once: the poison's batch-mates not lost or doubled
    assert transactions < 40 / 2, f"{transactions} transactions for 40 waiting messages"
    assert [Envelope.model_validate_json(m.body).id for m in dead] == [poison.id]
    assert headers_of(dead[0])["x-qbb-attempts"] == len(testkit.FAST_RETRIES) + 1


async def test_a_waiting_burst_is_claimed_in_the_inbox_and_staged_in_the_outbox_with_one_statement_a_batch(
    engine: AsyncEngine, database_url: str, amqp_url: str, clean_namespace: str
) -> None:
    burst = [customer_upserted() for _ in range(40)]
    inbox, outbox = "INSERT INTO testkit.inbox_messages", "INSERT INTO testkit.outbox_messages"
    async with broker_channel(amqp_url) as (_, channel):
        async with serving_testkit(database_url, amqp_url, clean_namespace):
            pass  # declares the queues; the burst below waits in them while nothing consumes
        probe = await bind_probe(channel, clean_namespace, ["sync.succeeded"])
        for event_ in burst:
            await publish(channel, clean_namespace, event_)
        with counting_statements((inbox, outbox)) as statements:
            async with serving_testkit(database_url, amqp_url, clean_namespace):
                applied = await wait_for_applied(engine, at_least=40, timeout=60)
                announced = await envelopes(probe, count=40, timeout=60)
        rows, events, transactions = await _transactions(engine)

    assert applied == rows == events == 40
    assert sorted(e.data["source_event_id"] for e in announced) == sorted(e.id for e in burst)
    assert transactions < 40 / 2, f"{transactions} transactions for 40 waiting messages"
    # One inbox claim and one outbox insert a transaction, not one each a message.
    assert statements[inbox] == statements[outbox] == transactions, (dict(statements), transactions)
