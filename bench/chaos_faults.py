"""The faults of ``make chaos``, one kind at a time and then mixed, each recorded when it ends.

Crash points are armed in phases of their own, beside these (bench/chaos_crash.py).
"""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import psutil

from bench.chaos_infra import OwnInfra

KILLABLE = ("auth", "mapper", "exporter", "webhooks")
# Every kind a run must have exercised (as ``Faults.done`` counts them) to be called clean.
KINDS = (
    *(f"sigkill:{name}" for name in KILLABLE),
    "sigstop:exporter-past-lease",
    "broker-restart",
    "broker-memory-alarm",
    "postgres:terminate-backends",
    "postgres:restart",
    "sandbox:503",
    "sandbox:timeout",
    "sandbox:timeout-after-write",
    "sandbox:429-storm",
    "token-expiry",
    "mixed-burst",
)


@dataclass
class Faults:
    """Injects faults into a running chaos stack and counts them by kind."""

    infra: OwnInfra
    stack: subprocess.Popen[bytes]
    http: httpx.AsyncClient
    sandbox_url: str
    database: str
    rng: random.Random
    extra_exporter: subprocess.Popen[bytes] | None = None
    done: Counter[str] = field(default_factory=Counter)
    last_at: float = 0.0
    timeline: list[tuple[float, str]] = field(default_factory=list)

    def _record(self, kind: str) -> None:
        self.done[kind] += 1
        self.last_at = time.monotonic()
        self.timeline.append((self.last_at, kind))

    def _service(self, name: str) -> list[psutil.Process]:
        found = [p for p in psutil.Process(self.stack.pid).children() if _runs(p, f"services.{name}")]
        if name == "exporter" and self.extra_exporter is not None and self.extra_exporter.poll() is None:
            found.append(psutil.Process(self.extra_exporter.pid))
        return found

    async def sigkill(self, name: str) -> None:
        for process in self._service(name)[:1]:
            try:
                process.send_signal(signal.SIGKILL)
            except psutil.Error:  # it died meanwhile: not a kill of ours
                continue
            self._record(f"sigkill:{name}")

    async def sigstop_exporter(self, *, seconds: float) -> None:
        """SIGSTOP one exporter longer than its lease, then SIGCONT: the other one takes its jobs over,
        and the fence must keep the woken one from writing them again."""
        processes = self._service("exporter")
        if not processes:
            return
        target = processes[-1]
        target.send_signal(signal.SIGSTOP)
        try:
            await asyncio.sleep(seconds)
        finally:
            target.send_signal(signal.SIGCONT)
        self._record("sigstop:exporter-past-lease")

    async def sandbox(self, kind: str, body: dict[str, object], *, seconds: float) -> None:
        await self.http.put(f"{self.sandbox_url}/admin/faults", json=body)
        try:
            await asyncio.sleep(seconds)
        finally:
            await self.http.delete(f"{self.sandbox_url}/admin/faults")
        self._record(f"sandbox:{kind}")

    async def expire_tokens(self) -> None:
        """Every access token stops working now: each realm's next call gets 401 and must refresh."""
        (
            await self.http.post(f"{self.sandbox_url}/admin/tokens/expire", json={"kind": "access"})
        ).raise_for_status()
        self._record("token-expiry")

    async def broker_restart(self) -> None:
        await asyncio.to_thread(self.infra.restart_broker)
        self._record("broker-restart")

    async def memory_alarm(self, *, seconds: float) -> None:
        await asyncio.to_thread(self.infra.memory_alarm, on=True)
        try:
            await asyncio.sleep(seconds)
        finally:
            await asyncio.to_thread(self.infra.memory_alarm, on=False)
        self._record("broker-memory-alarm")

    async def pg_terminate(self) -> None:
        await self.infra.terminate_backends(self.database)
        self._record("postgres:terminate-backends")

    async def pg_restart(self) -> None:
        await asyncio.to_thread(self.infra.restart_postgres)
        self._record("postgres:restart")

    def one_at_a_time(self) -> list[tuple[str, Callable[[], Awaitable[None]]]]:
        """Every kind once, in a seeded order, with a pause after each."""
        steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            (f"sigkill:{n}", lambda n=n: self.sigkill(n))  # type: ignore[misc]
            for n in self.rng.sample(KILLABLE, len(KILLABLE))
        ]
        steps += [
            ("sigstop", lambda: self.sigstop_exporter(seconds=14)),
            ("broker-restart", self.broker_restart),
            ("pg-terminate", self.pg_terminate),
            ("pg-restart", self.pg_restart),
            ("503", lambda: self.sandbox("503", {"error_rate": 0.5, "error_status": 503}, seconds=6)),
            ("timeout", lambda: self.sandbox("timeout", {"timeout_rate": 0.3}, seconds=6)),
            (
                "timeout-after-write",
                lambda: self.sandbox("timeout-after-write", {"timeout_after_write_rate": 0.4}, seconds=6),
            ),
            ("429", lambda: self.sandbox("429-storm", {"throttle_next": 40}, seconds=6)),
            ("token-expiry", self.expire_tokens),
            ("memory-alarm", lambda: self.memory_alarm(seconds=8)),
        ]
        return steps

    async def run(self, *, pause: tuple[float, float] = (3.0, 6.0)) -> None:
        """One kind at a time, then a mixed burst (several kinds at once)."""
        for _, step in self.one_at_a_time():
            await step()
            await asyncio.sleep(self.rng.uniform(*pause))
        await asyncio.gather(
            self.sigkill(self.rng.choice(KILLABLE)),
            self.sandbox("503", {"error_rate": 0.3, "error_status": 503}, seconds=6),
            self.pg_terminate(),
            self.expire_tokens(),
        )
        self._record("mixed-burst")
        await asyncio.sleep(2)
        await asyncio.gather(self.broker_restart(), self.sigkill("exporter"))
        self._record("mixed-burst")


def _runs(process: psutil.Process, module: str) -> bool:
    """Whether ``process`` runs ``module`` (a child that just died, not yet reaped, does not)."""
    try:
        return module in " ".join(process.cmdline())
    except psutil.Error:  # a zombie or gone: the supervisor is about to start it again
        return False
