"""The body-limit middleware: 413 before parsing, by declared length or by counting a streamed body."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request

from shared.http import BodyLimit


def _app() -> FastAPI:
    app = FastAPI()

    @app.post("/echo")
    async def echo(payload: dict[str, str]) -> dict[str, int]:
        """Parses JSON (FastAPI reads the whole body)."""
        return {"keys": len(payload)}

    @app.post("/raw/stream")
    async def raw(request: Request) -> dict[str, int]:
        """Reads the body chunk by chunk."""
        return {"bytes": sum([len(chunk) async for chunk in request.stream()])}

    app.add_middleware(BodyLimit, max_bytes=1000, overrides={"/raw": 5000})
    return app


async def _chunks(total: int, size: int = 100) -> AsyncIterator[bytes]:
    for _ in range(total // size):
        yield b"x" * size


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()), base_url="http://t") as c:
        yield c


async def test_a_small_body_passes(client: httpx.AsyncClient) -> None:
    response = await client.post("/echo", json={"a": "b"})
    assert response.status_code == 200


async def test_a_declared_length_over_the_limit_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/echo", content=b"{" + b" " * 2000 + b"}")
    assert response.status_code == 413
    assert "1000 bytes" in response.json()["detail"]


async def test_a_chunked_body_over_the_limit_is_refused_while_it_streams(client: httpx.AsyncClient) -> None:
    response = await client.post("/echo", content=_chunks(100_000))
    assert response.status_code == 413


async def test_a_prefix_override_applies_its_own_limit(client: httpx.AsyncClient) -> None:
    assert (await client.post("/raw/stream", content=_chunks(4000))).json() == {"bytes": 4000}
    assert (await client.post("/raw/stream", content=_chunks(6000))).status_code == 413
    assert (await client.post("/echo", content=_chunks(4000))).status_code == 413
