"""The named crash points kill a real service process exactly there, and nothing is lost or doubled."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections import Counter

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import create_sessionmaker
from shared.messaging import topology
from shared.messaging.outbox import Outbox
from tests.helpers import testkit
from tests.helpers.broker import bind_probe, broker_channel, collect, publish
from tests.helpers.factories import customer_upserted
from tests.helpers.running import applied_counts, serving_testkit, start_process, wait_for_applied

pytestmark = pytest.mark.integration


async def _outbox_rows(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(testkit.outbox))).scalar_one())


async def _exit_code(process: subprocess.Popen[bytes], *, timeout: float) -> int | None:
    """The process's exit code, or None (and it is killed) when it is still running after ``timeout``."""
    try:
        return await asyncio.to_thread(process.wait, timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
        return None


async def _until_queue_empty(amqp_url: str, queue: str, *, timeout: float) -> None:
    async with broker_channel(amqp_url) as (_, channel), asyncio.timeout(timeout):
        while (await channel.declare_queue(queue, passive=True)).declaration_result.message_count:
            await asyncio.sleep(0.1)


async def test_a_crash_after_commit_before_ack_redelivers_and_the_inbox_applies_it_once(
    engine: AsyncEngine, database_url: str, amqp_url: str, clean_namespace: str
) -> None:
    event = customer_upserted()
    async with broker_channel(amqp_url) as (_, channel):
        async with serving_testkit(database_url, amqp_url, clean_namespace):
            pass  # declares the queues
        await publish(channel, clean_namespace, event)
    crashing = start_process(
        database_url,
        amqp_url,
        clean_namespace,
        module="tests.helpers.testkit",
        extra_env={"QBB_CRASH_POINTS": "consumer.after_commit"},
    )
    exit_code = await _exit_code(crashing, timeout=60)
    after_crash = await applied_counts(engine)

    async with serving_testkit(database_url, amqp_url, clean_namespace):
        await _until_queue_empty(
            amqp_url, topology.queue_name("testkit.customers", clean_namespace), timeout=30
        )

    assert exit_code == -signal.SIGKILL
    assert after_crash == (1, 1), "the transaction committed before the crash"
    assert await applied_counts(engine) == (1, 1), "the redelivery is absorbed by the inbox"


async def test_a_crash_after_publish_before_delete_publishes_again_and_consumers_apply_once(
    engine: AsyncEngine, database_url: str, amqp_url: str, clean_namespace: str
) -> None:
    async with broker_channel(amqp_url) as (_, channel):
        async with serving_testkit(database_url, amqp_url, clean_namespace):
            pass  # declares the queues
        probe = await bind_probe(channel, clean_namespace, ["customer.upserted"])
        async with create_sessionmaker(engine)() as session, session.begin():
            outbox = Outbox(session, testkit.outbox)
            staged = {
                (
                    await outbox.add(
                        "customer.upserted", {"customer_id": f"c{i}", "code": f"C{i}"}, tenant_id="t1"
                    )
                ).id
                for i in range(3)
            }
        crashing = start_process(
            database_url,
            amqp_url,
            clean_namespace,
            module="tests.helpers.testkit",
            extra_env={"QBB_CRASH_POINTS": "outbox.after_publish#1"},
        )
        exit_code = await _exit_code(crashing, timeout=60)
        rows_after_crash = await _outbox_rows(engine)

        async with serving_testkit(database_url, amqp_url, clean_namespace):
            published = await collect(probe, count=2 * len(staged), timeout=30)
            applied = await wait_for_applied(engine, at_least=len(staged), timeout=30)
            await _until_queue_empty(
                amqp_url, topology.queue_name("testkit.customers", clean_namespace), timeout=30
            )

    assert exit_code == -signal.SIGKILL
    assert rows_after_crash == len(staged), "published, but the crash came before the delete"
    times = Counter(m.message_id for m in published)
    assert times == dict.fromkeys(staged, 2), "published before the crash, and again after it"
    assert applied == len(staged)
    assert await applied_counts(engine) == (len(staged), len(staged))
    assert await _outbox_rows(engine) == 0
