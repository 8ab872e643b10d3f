"""A 200 MB unauthenticated POST gets 413 quickly, and the service process's memory stays bounded."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator

import httpx
import psutil
import pytest

from tests.helpers.running import start_process
from tests.integration.platform.test_service_processes import free_port, wait_ready

pytestmark = pytest.mark.integration

TOTAL = 200 * 1024 * 1024
CHUNK = 256 * 1024


async def _stream(total: int) -> AsyncIterator[bytes]:
    chunk = b'{"tenant_id": "' + b"x" * (CHUNK - 15)
    for _ in range(total // CHUNK):
        yield chunk


async def _peak_rss(process: psutil.Process, stop: asyncio.Event) -> int:
    peak = process.memory_info().rss
    while not stop.is_set():
        peak = max(peak, process.memory_info().rss)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.05)
    return max(peak, process.memory_info().rss)


@pytest.mark.parametrize("declared", [False, True], ids=["chunked", "content-length"])
async def test_a_200mb_post_to_auth_gets_413_quickly_with_bounded_memory(
    database_url: str, amqp_url: str, namespace: str, declared: bool
) -> None:
    port = free_port()
    process = start_process(database_url, amqp_url, namespace, module="services.auth", port=port)
    try:
        assert await wait_ready(f"http://127.0.0.1:{port}/readyz", timeout=60) == 200
        watched = psutil.Process(process.pid)
        baseline = watched.memory_info().rss
        stop = asyncio.Event()
        sampler = asyncio.create_task(_peak_rss(watched, stop))
        headers = {"content-type": "application/json"}
        if declared:
            headers["content-length"] = str(TOTAL // CHUNK * CHUNK)
        started = time.monotonic()
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.post(
                f"http://127.0.0.1:{port}/v1/connections", content=_stream(TOTAL), headers=headers
            )
        elapsed = time.monotonic() - started
        stop.set()
        peak = await sampler
        async with httpx.AsyncClient(timeout=5) as client:  # and it still answers
            after = await client.get(f"http://127.0.0.1:{port}/healthz")
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(process.wait, 15)

    assert response.status_code == 413
    assert elapsed < 10, f"413 took {elapsed:.1f} s"
    assert peak - baseline < 50 * 1024 * 1024, f"RSS grew by {(peak - baseline) / 2**20:.0f} MiB"
    assert after.status_code == 200
