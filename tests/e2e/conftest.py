"""The whole stack for end-to-end tests: the sandbox and the four services as real processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from scripts.journey import Bus, Endpoints
from shared.messaging import topology
from tests.helpers.broker import broker_channel
from tests.helpers.infra import die_with_parent, fresh_database, new_namespace
from tests.helpers.otlp import Collector, collecting
from tests.helpers.sandbox import free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("auth", "mapper", "exporter", "webhooks")
VERIFIER = "e2e-webhook-verifier-token"

# A service's start-up (imports, migrations, broker topology) took 60-80 s with the load average at
# 12-15 on this 2-core machine: a 60 s bound failed every e2e test of a run. Returns once ready.
READY_BOUND = 180.0


@dataclass(frozen=True)
class Stack:
    ends: Endpoints
    amqp_url: str
    logs: Path
    spans: Collector  # every span the services exported by OTLP


def _env(
    database_url: str,
    amqp_url: str,
    sandbox_url: str,
    ports: dict[str, int],
    app: dict[str, str],
    namespace: str,
    otlp: str,
) -> dict[str, str]:
    return {
        **os.environ,
        "QBB_ENVIRONMENT": "test",
        "QBB_DATABASE_URL": database_url,
        "QBB_AMQP_URL": amqp_url,
        "QBB_AMQP_NAMESPACE": namespace,
        "QBB_INTUIT_CLIENT_ID": app["client_id"],
        "QBB_INTUIT_CLIENT_SECRET": app["client_secret"],
        "QBB_INTUIT_DISCOVERY_URL": f"{sandbox_url}/.well-known/openid_sandbox_configuration",
        "QBB_QBO_API_BASE": sandbox_url,
        "QBB_TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "QBB_WEBHOOK_VERIFIER_TOKEN": VERIFIER,
        "QBB_AUTH_INTERNAL_URL": f"http://127.0.0.1:{ports['auth']}",
        "QBB_EXPORTER_INTERNAL_URL": f"http://127.0.0.1:{ports['exporter']}",
        "QBB_PUBLIC_BASE_URL": f"http://127.0.0.1:{ports['auth']}",
        "QBB_LOG_LEVEL": "INFO",
        # Small pools: the suite's other worker runs services against the same Postgres, whose
        # default max_connections is 100; the e2e traffic needs a few connections per service.
        "QBB_DB_POOL_SIZE": "4",
        "QBB_DB_MAX_OVERFLOW": "4",
        # Spans go by OTLP/HTTP to the session's receiver; a short batch delay lets a test wait for
        # the spans themselves instead of the processor's 5 s timer.
        "QBB_OTEL_ENABLED": "true",
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }


def _start_services(
    env: dict[str, str], ports: dict[str, int], logs: Path
) -> dict[str, subprocess.Popen[bytes]]:
    return {
        name: subprocess.Popen(
            [sys.executable, "-m", f"services.{name}"],
            cwd=ROOT,
            env={**env, "QBB_HTTP_PORT": str(port)},
            stdout=(logs / f"{name}.log").open("wb"),
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        for name, port in ports.items()
    }


async def _ready(url: str, process: subprocess.Popen[bytes], *, timeout: float) -> None:
    async with httpx.AsyncClient(timeout=2) as http, asyncio.timeout(timeout):
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{url} exited with {process.returncode}")
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)


@pytest.fixture(scope="session")
def e2e_namespace() -> str:
    return new_namespace()


@pytest.fixture(scope="session")
def e2e_database_url(server_database_url: str) -> Iterator[str]:
    """The stack's own database: its long-running processes must not take other tests' work."""
    with fresh_database(server_database_url, tag="e2e") as url:
        yield url


@pytest.fixture(scope="session")
async def otlp() -> AsyncIterator[Collector]:
    """The OTLP/HTTP receiver the stack's services export their spans to (it outlives the stack)."""
    async with collecting() as collector:
        yield collector


@pytest.fixture(scope="session")
async def stack(
    otlp: Collector,
    e2e_database_url: str,
    amqp_url: str,
    sandbox_url: str,
    e2e_namespace: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Stack]:
    ports = {name: free_port() for name in SERVICES}
    async with httpx.AsyncClient(timeout=10) as http:
        app = (
            await http.post(
                f"{sandbox_url}/admin/apps",
                json={
                    "client_id": f"e2e-{uuid.uuid4().hex[:8]}",
                    "client_secret": f"secret-{uuid.uuid4().hex}",
                    "redirect_uris": [f"http://127.0.0.1:{ports['auth']}/v1/oauth/callback"],
                    "webhook_url": f"http://127.0.0.1:{ports['webhooks']}/v1/webhooks/qbo",
                    "webhook_verifier_token": VERIFIER,
                    "webhook_format": "cloudevents",
                },
            )
        ).json()
    env = _env(e2e_database_url, amqp_url, sandbox_url, ports, app, e2e_namespace, otlp.url)
    logs = tmp_path_factory.mktemp("e2e-logs")
    processes = _start_services(env, ports, logs)
    try:
        for name, port in ports.items():
            await _ready(f"http://127.0.0.1:{port}/readyz", processes[name], timeout=READY_BOUND)
        ends = Endpoints(
            sandbox=sandbox_url,
            auth=f"http://127.0.0.1:{ports['auth']}",
            mapper=f"http://127.0.0.1:{ports['mapper']}",
            exporter=f"http://127.0.0.1:{ports['exporter']}",
            webhooks=f"http://127.0.0.1:{ports['webhooks']}",
            namespace=e2e_namespace,
        )
        yield Stack(ends, amqp_url, logs, otlp)
    finally:
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
        # Waited for off the event loop: the OTLP receiver in this loop takes the spans the services
        # flush as they exit (a blocked loop held each exit for the exporter's 10 s timeout).
        for process in processes.values():
            try:
                await asyncio.to_thread(process.wait, timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        await _delete_exchanges(amqp_url, e2e_namespace)


async def _delete_exchanges(amqp_url: str, namespace: str) -> None:
    """The stack's exchanges (its queues expire by the test policy once unused)."""
    async with broker_channel(amqp_url) as (_, channel):
        for name in (topology.EXCHANGE, topology.UNROUTED, *topology.PLATFORM_EXCHANGES):
            await channel.exchange_delete(f"{namespace}{name}")


@pytest.fixture
async def bus(stack: Stack) -> AsyncIterator[Bus]:
    opened = await Bus.open(stack.amqp_url, stack.ends.namespace)
    yield opened
    await opened.close()
