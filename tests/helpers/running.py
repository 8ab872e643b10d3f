"""Running the testkit service in-process or as a real OS process, and reading its effects."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.runtime import ServiceDefinition, serve
from shared.settings import ServiceSettings
from tests.helpers import testkit
from tests.helpers.infra import die_with_parent

ROOT = Path(__file__).resolve().parents[2]
# Bounds on waits for a start and a stop, which return as soon as they happen: generous, because a
# start-up (imports, migrations, topology) took over a minute at load 15 on this 2-core machine.
START_BOUND = 120.0
STOP_BOUND = 60.0


def settings_for(database_url: str, amqp_url: str, namespace: str) -> testkit.TestkitSettings:
    return testkit.TestkitSettings(
        database_url=database_url,
        amqp_url=amqp_url,
        amqp_namespace=namespace,
        http_port=0,
        environment="test",
    )


@contextlib.asynccontextmanager
async def serving_testkit(database_url: str, amqp_url: str, namespace: str) -> AsyncIterator[None]:
    """The testkit service running in this event loop through the real runtime."""
    async with serving(testkit.DEFINITION, settings_for(database_url, amqp_url, namespace)):
        yield


@contextlib.asynccontextmanager
async def serving(definition: ServiceDefinition, settings: ServiceSettings) -> AsyncIterator[None]:
    """A service running in this event loop through the real runtime, consuming and answering HTTP
    once the block starts; stopped (as on SIGTERM) when it ends."""
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(definition, settings, stop=stop, ready=ready))
    try:
        async with asyncio.timeout(START_BOUND):
            await asyncio.wait({task, asyncio.create_task(ready.wait())}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # start-up failed: raise its error here
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=STOP_BOUND)


def start_process(
    database_url: str,
    amqp_url: str,
    namespace: str,
    *,
    module: str,
    port: int = 0,
    extra_env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """``python -m <module>`` with the test's settings (and ``extra_env``) in its environment."""
    env = {
        **os.environ,
        "QBB_DATABASE_URL": database_url,
        "QBB_AMQP_URL": amqp_url,
        "QBB_AMQP_NAMESPACE": namespace,
        "QBB_HTTP_PORT": str(port),
        "QBB_ENVIRONMENT": "test",
        "QBB_LOG_LEVEL": "WARNING",
        **(extra_env or {}),
    }
    return subprocess.Popen([sys.executable, "-m", module], cwd=ROOT, env=env, preexec_fn=die_with_parent)


async def applied_counts(engine: AsyncEngine) -> tuple[int, int]:
    """(rows, distinct event ids) in ``testkit.applied``."""
    t = testkit.applied
    async with engine.connect() as conn:
        row = (await conn.execute(select(func.count(), func.count(t.c.event_id.distinct())))).one()
    return int(row[0]), int(row[1])


async def wait_for_applied(engine: AsyncEngine, *, at_least: int, timeout: float) -> int:
    """Wait (bounded) until ``testkit.applied`` has ``at_least`` rows; return how many it has."""
    rows = 0
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            while (rows := (await applied_counts(engine))[0]) < at_least:
                await asyncio.sleep(0.05)
    return rows


async def reset_testkit(engine: AsyncEngine) -> None:
    """Empty the testkit tables (tests also isolate by namespace and event ids)."""
    async with engine.begin() as conn:
        for table in (testkit.applied, testkit.outbox, testkit.inbox):
            await conn.execute(delete(table))
