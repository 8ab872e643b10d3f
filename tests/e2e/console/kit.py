"""What the console's tests do before they open the browser: a connected tenant, events, waits."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from playwright.async_api import Page

from scripts.journey import Endpoints, Tenant, connect_tenant, create_company, event, until_reference_imported


def uid(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


async def usable_everywhere(http: httpx.AsyncClient, ends: Endpoints, tenant: Tenant) -> None:
    """A new key is mirrored by each service from its event: wait (≤ 20 s) until every one takes it."""
    paths = [
        f"{ends.mapper}/v1/connections/{tenant.connection_id}/settings",
        f"{ends.exporter}/v1/connections/{tenant.connection_id}/jobs",
        f"{ends.webhooks}/v1/connections/{tenant.connection_id}/imports/none",
    ]
    async with asyncio.timeout(20):
        for path in paths:
            while (await http.get(path, headers=tenant.auth_header)).status_code == 401:
                await asyncio.sleep(0.2)


async def connected_tenant(http: httpx.AsyncClient, ends: Endpoints, **company: Any) -> Tenant:
    realm = await create_company(http, ends, **({"country": "US"} | company))
    tenant = await connect_tenant(http, ends, tenant_id=uid("tenant"), realm_id=realm)
    await until_reference_imported(http, ends, tenant)
    await usable_everywhere(http, ends, tenant)
    return tenant


async def send(
    http: httpx.AsyncClient, ends: Endpoints, tenant: Tenant, type_: str, data: dict[str, Any]
) -> str:
    """A platform event over HTTP (as a platform would); returns its id."""
    envelope = event(type_, data, tenant=tenant)
    answer = await http.post(
        f"{ends.mapper}/v1/events",
        content=envelope.model_dump_json(),
        headers={**tenant.auth_header, "Content-Type": "application/cloudevents+json"},
    )
    assert answer.status_code == 202, answer.text
    return envelope.id


async def job_of(
    http: httpx.AsyncClient,
    ends: Endpoints,
    tenant: Tenant,
    platform_id: str,
    *,
    status: str,
    timeout: float = 30,
) -> dict[str, Any]:
    """The exporter's job for ``platform_id`` once it reaches ``status`` (bounded wait)."""
    url = f"{ends.exporter}/v1/connections/{tenant.connection_id}/jobs"
    async with asyncio.timeout(timeout):
        while True:
            jobs = (await http.get(url, headers=tenant.auth_header)).json()["jobs"]
            found = [j for j in jobs if j["platform_id"] == platform_id and j["status"] == status]
            if found:
                return dict(found[0])
            await asyncio.sleep(0.3)


async def sign_in(page: Page, console_url: str, key: str) -> None:
    await page.goto(f"{console_url}/sign-in")
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{console_url}/connections")


async def rejection_recorded(
    http: httpx.AsyncClient, ends: Endpoints, tenant: Tenant, platform_id: str, *, timeout: float = 20
) -> dict[str, Any] | None:
    """The mapper's record of a rejected event (bounded wait); None while its events route is not deployed."""
    url = f"{ends.mapper}/v1/connections/{tenant.connection_id}/events"
    async with asyncio.timeout(timeout):
        while True:
            answer = await http.get(url, params={"outcome": "rejected"}, headers=tenant.auth_header)
            if answer.status_code == 404:
                return None
            found = [e for e in answer.json()["events"] if e.get("platform_id") == platform_id]
            if found:
                return dict(found[0])
            await asyncio.sleep(0.3)
