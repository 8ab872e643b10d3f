"""A platform's webhook receiver in tests: a real HTTP server that records what it gets."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.runtime import KEEP_ALIVE_SECONDS
from tests.helpers.sandbox import free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers 500 to the first ``failures`` requests of each path, then 204 (``-1``: 500 always)."""

    url: str
    failures: dict[str, int] = field(default_factory=dict)
    got: list[Received] = field(default_factory=list)

    def at(self, path: str) -> list[Received]:
        return [r for r in self.got if r.path == path]

    async def wait_for(self, path: str, count: int, *, timeout: float) -> list[Received]:
        """Wait (bounded) until ``path`` got ``count`` requests; return those it got."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while len(self.at(path)) < count:
                    await asyncio.sleep(0.05)
        return self.at(path)


@contextlib.asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    port = free_port()
    receiver = Receiver(url=f"http://127.0.0.1:{port}")

    async def hook(request: Request) -> Response:
        path = request.url.path
        receiver.got.append(Received(path, dict(request.headers), await request.body()))
        left = receiver.failures.get(path, 0)
        if left != 0:
            receiver.failures[path] = left - 1 if left > 0 else left
            return Response("not now", status_code=500)
        return Response(status_code=204)

    async with serving_app(Starlette(routes=[Route("/{name}", hook, methods=["POST"])]), port):
        yield receiver


@contextlib.asynccontextmanager
async def serving_app(app: Starlette, port: int) -> AsyncIterator[None]:
    """``app`` served on 127.0.0.1:``port`` in this event loop while the block runs."""
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(60):
            while not server.started:
                await asyncio.sleep(0.02)
        yield
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)
