"""Each service starts as a real process, migrates, declares its queues, answers /readyz, stops on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import socket

import httpx
import pytest

from tests.helpers.broker import broker_channel
from tests.helpers.running import start_process

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_ready(url: str, *, timeout: float) -> int:
    status = 0
    async with httpx.AsyncClient() as client:
        try:
            async with asyncio.timeout(timeout):
                while status != 200:
                    try:
                        status = (await client.get(url, timeout=1)).status_code
                    except httpx.TransportError:
                        await asyncio.sleep(0.2)
        except TimeoutError:
            pass
    return status


@pytest.mark.parametrize(
    ("service", "queues"),
    [
        ("auth", []),
        ("mapper", ["mapper.connections", "mapper.api-keys"]),
        ("exporter", ["exporter.connections", "exporter.api-keys"]),
        ("webhooks", ["webhooks.connections", "webhooks.api-keys"]),
    ],
)
async def test_a_service_process_becomes_ready_declares_its_queues_and_exits_0_on_sigterm(
    database_url: str, amqp_url: str, namespace: str, service: str, queues: list[str]
) -> None:
    port = free_port()
    process = start_process(database_url, amqp_url, namespace, module=f"services.{service}", port=port)
    try:
        status = await wait_ready(f"http://127.0.0.1:{port}/readyz", timeout=180)
        async with httpx.AsyncClient() as client:
            metrics = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
        async with broker_channel(amqp_url) as (_, channel):
            declared = [await channel.declare_queue(f"{namespace}{q}", passive=True) for q in queues]
    finally:
        process.send_signal(signal.SIGTERM)
        exit_code = await asyncio.to_thread(process.wait, 15)

    assert status == 200
    assert "qbb_handler_seconds" in metrics
    assert len(declared) == len(queues)
    assert exit_code == 0
