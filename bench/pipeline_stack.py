"""The stack the pipeline benchmark measures: started as ``make run`` does (``scripts.stack``),
on a database of its own, with the services' QBO limits matching the sandbox's; and a sampler of
each process's peak RSS and CPU seconds."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import psutil
from sqlalchemy.engine import make_url

from scripts import stack
from scripts.journey import Endpoints
from shared.db import asyncpg_dsn

BENCH_DATABASE = "qbo_bridge_bench"
UNLIMITED = "1000000"


@dataclass
class RunningStack:
    processes: dict[str, subprocess.Popen[bytes]]
    ends: Endpoints
    amqp_url: str

    def stop(self) -> None:
        """SIGTERM to every child (as Ctrl-C on ``make run``), then wait for each."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


async def fresh_database(server_url: str) -> str:
    """The benchmark's own database, emptied: jobs of an earlier run must not compete."""
    url = make_url(server_url)
    maintenance = url.set(database="postgres").render_as_string(hide_password=False)
    conn = await asyncpg.connect(asyncpg_dsn(maintenance))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{BENCH_DATABASE}"')
    finally:
        await conn.close()
    return url.set(database=BENCH_DATABASE).render_as_string(hide_password=False)


def start_stack(*, time_scale: float, limits: str) -> RunningStack:
    """Sandbox and the four services on the ``make run`` ports; exits if those are busy."""
    if busy := stack.busy_ports():
        raise SystemExit(f"make bench: ports {busy} are already in use; stop what runs there (`make run`?)")
    infra = stack.find_infra()
    database_url = asyncio.run(fresh_database(infra.database.url))
    asyncio.run(stack.migrate_all(database_url))
    namespace = f"bench{uuid.uuid4().hex[:8]}."
    env = {
        **stack.DEV_DEFAULTS,
        **os.environ,
        "QBB_DATABASE_URL": database_url,
        "QBB_AMQP_URL": infra.broker.url,
        "QBB_AMQP_NAMESPACE": namespace,
        "QBB_QBO_TIME_SCALE": str(time_scale),
        "QBB_LOG_LEVEL": "WARNING",
    }
    if limits == "off":
        for name in ("PER_SECOND", "PER_MINUTE", "CONCURRENT", "BATCH_PER_MINUTE"):
            env[f"QBB_QBO_{name}"] = UNLIMITED
    processes = stack.run_stack(env)
    sandbox = f"http://127.0.0.1:{stack.SANDBOX_PORT}"
    ports = {n: f"http://127.0.0.1:{p}" for n, p in stack.SERVICES.items()}
    return RunningStack(processes, Endpoints(sandbox=sandbox, namespace=namespace, **ports), infra.broker.url)


@dataclass
class Usage:
    peak_rss_mb: float = 0.0
    cpu_start: float | None = None
    cpu_seconds: float = 0.0


@dataclass
class Sampler:
    """Every 0.5 s: each process's RSS (peak kept) and CPU time (user + system, children included)."""

    processes: dict[str, subprocess.Popen[bytes]]
    usage: dict[str, Usage] = field(default_factory=dict)

    watched: dict[str, psutil.Process] = field(default_factory=dict)
    machine_start: Any = None

    async def run(self) -> None:
        self.watched = {name: psutil.Process(p.pid) for name, p in self.processes.items()}
        # The benchmark's own publisher and listener share the same two cores.
        self.watched["bench-client"] = psutil.Process()
        self.usage = {name: Usage() for name in self.watched}
        self.machine_start = psutil.cpu_times()
        while True:
            self.sample()
            await asyncio.sleep(0.5)

    def sample(self) -> None:
        for name, process in self.watched.items():
            self._sample(name, process)

    def _sample(self, name: str, process: psutil.Process) -> None:
        try:
            # The benchmark's children are the stack itself: count the client alone.
            children = [] if name == "bench-client" else process.children(recursive=True)
            family = [process, *children]
            rss = sum(p.memory_info().rss for p in family)
            cpu = sum(sum(p.cpu_times()[:2]) for p in family)
        except psutil.Error:
            return
        usage = self.usage[name]
        usage.peak_rss_mb = max(usage.peak_rss_mb, rss / 2**20)
        if usage.cpu_start is None:
            usage.cpu_start = cpu
        usage.cpu_seconds = cpu - usage.cpu_start

    def machine_busy(self) -> float | None:
        """Share of all cores' time spent busy (not idle or waiting for I/O) since ``run`` began."""
        if self.machine_start is None:
            return None
        start, end = self.machine_start, psutil.cpu_times()
        total = sum(end) - sum(start)
        idle = (end.idle - start.idle) + (getattr(end, "iowait", 0.0) - getattr(start, "iowait", 0.0))
        return round(100 * (1 - idle / total), 1) if total > 0 else None

    def report(self) -> dict[str, dict[str, float]]:
        return {
            name: {"peak_rss_mb": round(u.peak_rss_mb, 1), "cpu_seconds": round(u.cpu_seconds, 2)}
            for name, u in self.usage.items()
        }
