"""``make run`` (scripts.stack) starts again a service that dies, saying so with its exit code — also
one that dies while the stack is still starting."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from scripts.stack import DEV_PLATFORM, Ports
from services.auth.handlers import router as auth_router
from services.exporter.handlers import router as exporter_router
from services.mapper.handlers import router as mapper_router
from services.webhooks.handlers import router as webhooks_router
from tests.helpers.broker import delete_namespace
from tests.helpers.infra import die_with_parent
from tests.helpers.platforms import delete_broker_users
from tests.helpers.running import ROOT

pytestmark = pytest.mark.integration


def _free_base_port() -> int:
    """A base port whose stack's ports (the sandbox, four services, the console) are all free.

    Drawn below the kernel's ephemeral range (32768-60999 here): a port from that range can be taken
    by any outgoing connection between this check and the stack's bind (a run failed so, the
    console finding its port in use; the console's port was not even checked then)."""
    for _ in range(200):
        base = random.randrange(20000, 32000)
        ports = Ports(base)
        if all(_free(p) for p in (ports.sandbox, *ports.services.values(), ports.console)):
            return base
    raise RuntimeError("no free ports for a stack")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def _ready(client: httpx.AsyncClient, url: str, *, timeout: float) -> bool:
    try:
        async with asyncio.timeout(timeout):
            while True:
                try:
                    if (await client.get(url, timeout=2)).status_code == 200:
                        return True
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.3)
    except TimeoutError:
        return False


def _start_stack(ports: Ports, env: dict[str, str], output: Path) -> subprocess.Popen[bytes]:
    """``make run`` on ``ports``, its output in ``output``."""
    with output.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "scripts.stack", "--base-port", str(ports.sandbox)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )


async def _started(output: Path, *, timeout: float, stack: subprocess.Popen[bytes] | None = None) -> bool:
    """Wait (bounded) for the stack to say every process answers; False at once if ``stack`` exits."""
    try:
        async with asyncio.timeout(timeout):
            while "qbo-bridge is running" not in await asyncio.to_thread(output.read_text):
                if stack is not None and stack.poll() is not None:
                    return False
                await asyncio.sleep(0.3)
    except TimeoutError:
        return False
    return True


def _stop(stack: subprocess.Popen[bytes]) -> int:
    """SIGTERM the stack (it stops its children); if it hangs, kill it and what it started."""
    children = psutil.Process(stack.pid).children(recursive=True)
    stack.send_signal(signal.SIGTERM)
    try:
        return stack.wait(40)
    except subprocess.TimeoutExpired:
        for child in children:
            child.kill()
        stack.kill()
        return stack.wait(10)


@dataclass
class RunningStack:
    stack: subprocess.Popen[bytes]
    ports: Ports
    output: Path
    code: int | None = None  # the stack's exit code, once the block has ended

    def readyz(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports.services[service]}/readyz"


@contextlib.asynccontextmanager
async def running_stack(
    database_url: str, amqp_url: str, namespace: str, tmp_path: Path
) -> AsyncIterator[RunningStack]:
    """``make run`` on free ports for the block; then stopped, its namespace and broker user deleted."""
    ports = Ports(_free_base_port())
    env = {
        **os.environ,
        "QBB_DATABASE_URL": database_url,
        "QBB_AMQP_URL": amqp_url,
        "QBB_AMQP_NAMESPACE": namespace,
        "QBB_LOG_LEVEL": "WARNING",
    }
    output = tmp_path / "stack.out"
    run = RunningStack(_start_stack(ports, env, output), ports, output)
    try:
        yield run
    finally:
        run.code = await asyncio.to_thread(_stop, run.stack)
        await delete_namespace(
            amqp_url, namespace, [auth_router, mapper_router, exporter_router, webhooks_router]
        )
        await delete_broker_users(f"{namespace}{DEV_PLATFORM}")  # the user `make run` registered


def _child(stack: psutil.Process, module: str) -> psutil.Process:
    children = stack.children()
    found = [p for p in children if module in " ".join(p.cmdline())]
    assert found, f"no {module} among {[' '.join(p.cmdline()) for p in children]}"
    return found[0]


async def test_a_service_killed_with_sigkill_is_restarted_and_answers_readyz_again(
    database_url: str, amqp_url: str, namespace: str, tmp_path: Path
) -> None:
    async with running_stack(database_url, amqp_url, namespace, tmp_path) as run:
        stack, output, mapper = run.stack, run.output, run.readyz("mapper")
        async with httpx.AsyncClient() as client:
            assert await _started(output, timeout=240), output.read_text()[-3000:]
            assert await _ready(client, mapper, timeout=10)
            killed = _child(psutil.Process(stack.pid), "services.mapper")
            killed.send_signal(signal.SIGKILL)
            await asyncio.to_thread(killed.wait, 10)
            back = await _ready(client, mapper, timeout=150)
            replacement = _child(psutil.Process(stack.pid), "services.mapper")
    code, said = run.code, output.read_text()
    assert back, said[-3000:]
    assert replacement.pid != killed.pid
    assert "mapper exited with -9; restarting in 1 s" in said
    assert f"mapper restarted (pid {replacement.pid})" in said
    assert code == 0


async def _spawned(stack: subprocess.Popen[bytes], module: str, *, timeout: float) -> psutil.Process:
    """The stack's child running ``module``, as soon as it exists (bounded)."""
    async with asyncio.timeout(timeout):
        while True:
            found = [p for p in psutil.Process(stack.pid).children() if module in " ".join(p.cmdline())]
            if found:
                return found[0]
            assert stack.poll() is None, "the stack exited before starting its children"
            await asyncio.sleep(0.05)


async def test_a_service_killed_while_the_stack_is_still_starting_is_restarted_and_the_stack_comes_up(
    database_url: str, amqp_url: str, namespace: str, tmp_path: Path
) -> None:
    # Killed as soon as it exists, long before it answers /readyz: the stack used to stop there
    # ("mapper exited with -9") — nothing supervised its children until every one had started.
    async with running_stack(database_url, amqp_url, namespace, tmp_path) as run:
        stack, output, mapper = run.stack, run.output, run.readyz("mapper")
        killed = await _spawned(stack, "services.mapper", timeout=120)
        killed.send_signal(signal.SIGKILL)  # not waited for: the stack reaps it (a zombie until then)
        async with httpx.AsyncClient() as client:
            up = await _started(output, timeout=300, stack=stack)
            answers = up and await _ready(client, mapper, timeout=30)
        running = stack.poll() is None
        replacement = _child(psutil.Process(stack.pid), "services.mapper") if running else None
    code, said = run.code, output.read_text()
    assert up, said[-3000:]
    assert answers, said[-3000:]
    assert replacement is not None, said[-3000:]
    assert replacement.pid != killed.pid
    assert "mapper exited with -9; restarting in 1 s" in said
    assert f"mapper restarted (pid {replacement.pid})" in said
    assert code == 0
