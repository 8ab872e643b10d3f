"""Fixtures for sandbox HTTP tests: a second sandbox with throttles off, and a connected realm."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.helpers.sandbox import connect, create_app, create_company, start_sandbox, stop_sandbox

REDIRECT_URI = "http://localhost:9999/callback"


@pytest.fixture(scope="session")
def unthrottled_url() -> Iterator[str]:
    """A sandbox with Intuit's throttles off, for tests that make many calls quickly."""
    url, process = start_sandbox("--no-limits", "--webhook-delay", "0.2")
    try:
        yield url
    finally:
        stop_sandbox(process)


@dataclass
class Realm:
    """A company connected to a fresh app, with a bearer-authenticated client."""

    client: httpx.AsyncClient
    realm_id: str
    app: dict[str, Any]
    tokens: dict[str, Any]

    @property
    def base(self) -> str:
        return f"/v3/company/{self.realm_id}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens['access_token']}", "Accept": "application/json"}

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.client.get(
            self.base + path, params={"minorversion": "75", **params}, headers=self.headers
        )

    async def post(self, path: str, body: Any, **params: Any) -> httpx.Response:
        return await self.client.post(
            self.base + path, json=body, params={"minorversion": "75", **params}, headers=self.headers
        )


async def make_realm(
    client: httpx.AsyncClient, app_overrides: dict[str, Any] | None = None, **company: Any
) -> Realm:
    realm_id = await create_company(client, **company)
    app = await create_app(client, redirect_uris=[REDIRECT_URI], **(app_overrides or {}))
    tokens = await connect(client, app=app, realm_id=realm_id, redirect_uri=REDIRECT_URI)
    return Realm(client=client, realm_id=realm_id, app=app, tokens=tokens)


@pytest.fixture
async def admin(unthrottled_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=unthrottled_url, timeout=30) as client:
        yield client


@pytest.fixture
async def realm(admin: httpx.AsyncClient) -> Realm:
    return await make_realm(admin)
