"""Every metric an alert or the dashboard reads is served at /metrics by the running services."""

from __future__ import annotations

import asyncio
import signal
import socket

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.exporter import handlers as exporter_handlers
from services.mapper import handlers as mapper_handlers
from services.webhooks import handlers as webhooks_handlers
from tests.helpers.broker import delete_namespace
from tests.helpers.observability import EXTERNAL, all_used_metrics, family
from tests.helpers.running import start_process

pytestmark = pytest.mark.integration

SERVICES = ("auth", "mapper", "exporter", "webhooks")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _scrape(client: httpx.AsyncClient, port: int, *, timeout: float) -> str:
    """The /metrics text once the service is ready."""
    async with asyncio.timeout(timeout):
        while True:
            try:
                if (await client.get(f"http://127.0.0.1:{port}/readyz", timeout=1)).status_code == 200:
                    return (await client.get(f"http://127.0.0.1:{port}/metrics", timeout=5)).text
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.3)


async def test_the_services_serve_every_metric_the_alerts_and_the_dashboard_use(
    database_url: str, amqp_url: str, namespace: str
) -> None:
    ports = {name: _free_port() for name in SERVICES}
    processes = [
        start_process(database_url, amqp_url, namespace, module=f"services.{name}", port=port)
        for name, port in ports.items()
    ]
    try:
        async with httpx.AsyncClient() as client:
            pages = await asyncio.gather(*(_scrape(client, port, timeout=90) for port in ports.values()))
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=30)
        routers = (mapper_handlers.router, exporter_handlers.router, webhooks_handlers.router)
        await delete_namespace(amqp_url, namespace, routers)

    served = {family(f.name) for page in pages for f in text_string_to_metric_families(page)}
    assert {family(name) for name in all_used_metrics()} - EXTERNAL - served == set()
