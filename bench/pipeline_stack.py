"""The stack the pipeline benchmark measures: started as ``make run`` does (``scripts.stack``),
on a database, a broker namespace and ports of its own (18390-18395, so a ``make run`` can stay up),
with the services' QBO limits matching the sandbox's; a sampler of each process's peak RSS and CPU
seconds (and of the Postgres backends serving the benchmark's database); and the deletion of the
namespace's broker queues, exchanges and users when the stack stops."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import asyncpg
import httpx
import psutil
from sqlalchemy.engine import make_url

from bench.pipeline_db import BackendCpu
from scripts import stack
from scripts.journey import Endpoints
from shared.db import asyncpg_dsn

BENCH_DATABASE = "qbo_bridge_bench"
BENCH_PORTS = stack.Ports(18390)
UNLIMITED = "1000000"


@dataclass
class RunningStack:
    processes: dict[str, subprocess.Popen[bytes]]
    ends: Endpoints
    amqp_url: str
    database_url: str
    server_url: str  # the server's maintenance database (``postgres``), for what is not ours to count

    def stop(self) -> None:
        """SIGTERM to every child (as Ctrl-C on ``make run``), wait for each, then delete the
        namespace's queues, exchanges and platform users from the shared broker."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        deleted = delete_broker_namespace(self.amqp_url, self.ends.namespace)
        print(f"   broker: deleted {deleted} queue(s), exchange(s) and user(s) of {self.ends.namespace}")


def delete_broker_namespace(amqp_url: str, namespace: str) -> int:
    """Every queue, exchange and user whose name starts with ``namespace`` (this run's alone:
    the prefix is random per stack), through the management API; how many were deleted."""
    if not namespace or not namespace.startswith("bench"):
        raise ValueError(f"not a benchmark namespace: {namespace!r}")
    url = urlsplit(amqp_url)
    auth = (unquote(url.username or "guest"), unquote(url.password or "guest"))
    base = os.environ.get("QBB_RABBITMQ_MANAGEMENT_URL", f"http://{url.hostname or '127.0.0.1'}:15672")
    vhost = quote(unquote(url.path.lstrip("/")) or "/", safe="")
    deleted = 0
    with httpx.Client(base_url=base.rstrip("/"), auth=auth, timeout=30) as http:
        for kind, listing in (
            ("queues", f"/api/queues/{vhost}"),
            ("exchanges", f"/api/exchanges/{vhost}"),
            ("users", "/api/users"),
        ):
            names = [str(x["name"]) for x in http.get(listing, params={"columns": "name"}).json()]
            for name in (n for n in names if n.startswith(namespace)):
                path = (
                    f"/api/users/{quote(name, safe='')}"
                    if kind == "users"
                    else f"{listing}/{quote(name, safe='')}"
                )
                answer = http.delete(path)
                deleted += answer.status_code in (200, 204)
    return deleted


async def fresh_database(server_url: str, name: str = BENCH_DATABASE) -> str:
    """The benchmark's own database, emptied: jobs of an earlier run must not compete."""
    url = make_url(server_url)
    maintenance = url.set(database="postgres").render_as_string(hide_password=False)
    conn = await asyncpg.connect(asyncpg_dsn(maintenance))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return url.set(database=name).render_as_string(hide_password=False)


def start_stack(
    *, time_scale: float, limits: str, ports: stack.Ports = BENCH_PORTS, database: str = BENCH_DATABASE
) -> RunningStack:
    """Sandbox and the four services on the benchmark's ports (or ``ports``, on ``database``, for a
    benchmark that may run beside this one); exits if those are busy."""
    if busy := stack.busy_ports(ports):
        raise SystemExit(f"make bench: ports {busy} are already in use (another benchmark running?)")
    infra = stack.find_infra()
    database_url = asyncio.run(fresh_database(infra.database.url, database))
    asyncio.run(stack.migrate_all(database_url))
    namespace = f"bench{uuid.uuid4().hex[:8]}."
    env = {
        **stack.dev_defaults(ports),
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
    try:
        processes = stack.run_stack(env, ports)
    except BaseException:
        delete_broker_namespace(infra.broker.url, namespace)
        raise
    sandbox = f"http://127.0.0.1:{ports.sandbox}"
    urls = {n: f"http://127.0.0.1:{p}" for n, p in ports.services.items()}
    ends = Endpoints(sandbox=sandbox, namespace=namespace, **urls)
    maintenance = make_url(database_url).set(database="postgres").render_as_string(hide_password=False)
    return RunningStack(processes, ends, infra.broker.url, database_url, maintenance)


@dataclass
class Usage:
    peak_rss_mb: float = 0.0
    cpu_start: float | None = None
    cpu_seconds: float = 0.0


@dataclass
class Sampler:
    """Every 0.5 s until ``stopping`` is set (then once more): each process's RSS (peak kept) and
    CPU time (user + system, children included)."""

    processes: dict[str, subprocess.Popen[bytes]]
    postgres: BackendCpu | None = None
    usage: dict[str, Usage] = field(default_factory=dict)

    watched: dict[str, psutil.Process] = field(default_factory=dict)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    machine_start: Any = None

    async def run(self) -> None:
        self.watched = {name: psutil.Process(p.pid) for name, p in self.processes.items()}
        # The benchmark's own publisher and listener share the same two cores.
        self.watched["bench-client"] = psutil.Process()
        self.usage = {name: Usage() for name in self.watched}
        self.machine_start = psutil.cpu_times()
        while not self.stopping.is_set():
            await self.sample()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=0.5)
        await self.sample()

    async def sample(self) -> None:
        for name, process in self.watched.items():
            self._sample(name, process)
        if self.postgres is not None:
            await self.postgres.sample()

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
        out = {
            name: {"peak_rss_mb": round(u.peak_rss_mb, 1), "cpu_seconds": round(u.cpu_seconds, 2)}
            for name, u in self.usage.items()
        }
        if self.postgres is not None and (seconds := self.postgres.seconds()) is not None:
            out["postgres"] = {"cpu_seconds": seconds}
        return out
