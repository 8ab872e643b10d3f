"""A process killed at any moment loses nothing and applies nothing twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess

import aio_pika
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import create_sessionmaker
from shared.messaging.consumer import Consumer
from shared.messaging.outbox import Outbox
from tests.helpers import testkit
from tests.helpers.broker import bind_probe, broker_channel, collect, publish
from tests.helpers.factories import customer_upserted
from tests.helpers.running import applied_counts, serving_testkit, start_process, wait_for_applied

pytestmark = pytest.mark.integration


async def _outbox_rows(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(testkit.outbox))).scalar_one())


async def _stage_events(engine: AsyncEngine, count: int) -> set[str]:
    ids: set[str] = set()
    async with create_sessionmaker(engine)() as session, session.begin():
        outbox = Outbox(session, testkit.outbox)
        for i in range(count):
            envelope = await outbox.add(
                "customer.upserted", {"customer_id": f"c{i}", "code": f"C{i}"}, tenant_id="tenant-1"
            )
            ids.add(envelope.id)
    return ids


async def _wait_outbox_at_most(engine: AsyncEngine, rows: int, *, timeout: float) -> int:
    async with asyncio.timeout(timeout):
        while (left := await _outbox_rows(engine)) > rows:
            await asyncio.sleep(0.005)
    return left


def _env_process(database_url: str, amqp_url: str, namespace: str, module: str) -> subprocess.Popen[bytes]:
    os.environ["RELAY_BATCH"] = "5"  # small batches so the kill lands part-way
    try:
        return start_process(database_url, amqp_url, namespace, module=module)
    finally:
        del os.environ["RELAY_BATCH"]


async def test_relay_killed_midway_and_restarted_delivers_every_event_once(
    engine: AsyncEngine, database_url: str, amqp_url: str, clean_namespace: str
) -> None:
    async with broker_channel(amqp_url) as (connection, channel):
        consumer = Consumer(
            connection=connection,
            router=testkit.router,
            sessionmaker=create_sessionmaker(engine),
            inbox_table=testkit.inbox,
            outbox_table=testkit.outbox,
            namespace=clean_namespace,
        )
        await consumer.start()
        probe = await bind_probe(channel, clean_namespace, ["customer.upserted"])
        staged = await _stage_events(engine, 1000)

        relay = _env_process(database_url, amqp_url, clean_namespace, "tests.helpers.relay_proc")
        left_at_kill = await _wait_outbox_at_most(engine, 700, timeout=120)
        relay.send_signal(signal.SIGKILL)
        relay.wait(timeout=10)
        restarted = _env_process(database_url, amqp_url, clean_namespace, "tests.helpers.relay_proc")
        try:
            applied = await wait_for_applied(engine, at_least=1000, timeout=180)
            delivered = await collect(probe, count=2000, timeout=3)
        finally:
            restarted.terminate()
            restarted.wait(timeout=10)
            await consumer.stop()

    assert 0 < left_at_kill < 1000, "the relay must be killed part-way through the backlog"
    assert applied == 1000
    assert await applied_counts(engine) == (1000, 1000)
    assert {m.message_id for m in delivered} == staged


async def test_sigterm_during_a_burst_finishes_in_flight_work_flushes_the_outbox_and_exits_0(
    engine: AsyncEngine, database_url: str, amqp_url: str, clean_namespace: str
) -> None:
    events = [customer_upserted() for _ in range(500)]
    async with broker_channel(amqp_url) as (_, channel):
        async with serving_testkit(database_url, amqp_url, clean_namespace):
            pass  # declares the queues, so nothing published below is unroutable
        announced = await bind_probe(channel, clean_namespace, ["sync.succeeded"])
        for event in events:
            await publish(channel, clean_namespace, event)
        service = start_process(database_url, amqp_url, clean_namespace, module="tests.helpers.testkit")
        at_signal = await wait_for_applied(engine, at_least=50, timeout=120)
        service.send_signal(signal.SIGTERM)
        exit_code = await asyncio.to_thread(service.wait, 10)
        rows_after_stop = await applied_counts(engine)
        outbox_after_stop = await _outbox_rows(engine)

        async with serving_testkit(database_url, amqp_url, clean_namespace):
            applied = await wait_for_applied(engine, at_least=500, timeout=180)
            messages = await collect(announced, count=1000, timeout=5)

    assert exit_code == 0
    assert 50 <= at_signal < 500, "SIGTERM must land during the burst"
    assert rows_after_stop[0] < 500, "the first process must not have finished the burst"
    assert outbox_after_stop == 0, "the outbox is flushed before exit"
    assert applied == 500
    assert await applied_counts(engine) == (500, 500)
    announced_ids = {aio_pika_envelope_source(m.body) for m in messages}
    assert announced_ids == {e.id for e in events}


def aio_pika_envelope_source(body: bytes) -> str:
    from shared.contracts.envelope import Envelope

    return str(Envelope.model_validate_json(body).data["source_event_id"])


_ = aio_pika


async def test_sigterm_while_the_broker_does_not_answer_stops_the_service_at_once(
    database_url: str, namespace: str
) -> None:
    # A broker that takes the connection but never speaks (seen on a wedged node): the service waits
    # in its start-up; SIGTERM must still stop it, or Kubernetes kills it only after the grace period.
    accepted = asyncio.Event()
    held: list[asyncio.StreamWriter] = []

    async def mute(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        accepted.set()

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    process = start_process(
        database_url, f"amqp://guest:guest@127.0.0.1:{port}/", namespace, module="services.mapper"
    )
    try:
        await asyncio.wait_for(accepted.wait(), timeout=120)  # migrated, now connecting
        process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(process.wait, 15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for writer in held:
            writer.close()
        server.close()

    assert code == 0
