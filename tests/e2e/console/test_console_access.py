"""Who sees what through the console: a key's own data only, a server-side session, forms with a token."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from scripts.journey import Tenant
from tests.e2e.conftest import Stack
from tests.e2e.console.conftest import Console, shot
from tests.e2e.console.kit import connected_tenant, job_of, send, sign_in, uid

pytestmark = pytest.mark.e2e
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass(frozen=True)
class Two:
    first: Tenant
    second: Tenant
    first_job: dict[str, str]


@pytest.fixture(scope="module")
async def two(stack: Stack) -> Two:
    async with httpx.AsyncClient(timeout=15) as http:
        first = await connected_tenant(http, stack.ends)
        second = await connected_tenant(http, stack.ends)
        code = uid("Only First")
        await send(http, stack.ends, first, "customer.upserted", {"customer_id": f"cus_{code}", "code": code})
        job = await job_of(http, stack.ends, first, f"cus_{code}", status="succeeded")
    return Two(first, second, job)


@asynccontextmanager
async def signed_in(console: Console, key: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client with a console session (cookies kept, redirects not followed)."""
    async with httpx.AsyncClient(base_url=console.url, timeout=15) as client:
        form = (await client.get("/sign-in")).text
        token = re.search(r'name="signin_token" value="([^"]+)"', form)
        assert token is not None
        answer = await client.post("/sign-in", data={"signin_token": token.group(1), "key": key})
        assert answer.status_code == 303, answer.text
        yield client


@pytest.fixture
async def second_client(console: Console, two: Two) -> AsyncIterator[httpx.AsyncClient]:
    async with signed_in(console, two.second.key) as client:
        yield client


async def csrf_of(client: httpx.AsyncClient) -> str:
    found = CSRF.search((await client.get("/connections")).text)
    assert found is not None
    return found.group(1)


async def test_a_second_tenant_sees_none_of_the_first_tenants_data(
    console: Console, two: Two, page: Page, screenshots: Path
) -> None:
    first_company = two.first.connection["company"]["name"]
    await sign_in(page, console.url, two.second.key)
    await expect(page.get_by_role("link", name=two.second.connection["company"]["name"])).to_be_visible()
    await expect(page.get_by_text(first_company)).to_have_count(0)
    for tab in ("", "/readiness", "/settings", "/history", "/imports"):
        answer = await page.goto(f"{console.url}/connections/{two.first.connection_id}{tab}")
        assert answer is not None
        assert answer.status == 404, tab
        await expect(page.get_by_text("nothing here that this key may see")).to_be_visible()
        assert first_company not in await page.content()
    await shot(page, screenshots, "11-other-tenant-not-found")


async def test_a_second_tenant_cannot_act_on_the_first_tenants_jobs_or_connection(
    stack: Stack, two: Two, second_client: httpx.AsyncClient
) -> None:
    csrf = await csrf_of(second_client)
    first = two.first.connection_id
    retried = await second_client.post(
        f"/connections/{first}/jobs/{two.first_job['id']}/retry", data={"csrf": csrf}
    )
    disconnected = await second_client.post(f"/connections/{first}/disconnect", data={"csrf": csrf})
    notices = (await second_client.get(f"/connections/{first}")).text
    async with httpx.AsyncClient(timeout=15) as http:
        still = await http.get(f"{stack.ends.auth}/v1/connections/{first}", headers=two.first.auth_header)
    assert retried.status_code == 303
    assert disconnected.status_code == 303
    assert "Retry refused: not found" in notices
    assert "Disconnect failed: not found" in notices
    assert still.json()["status"] == "active"


async def test_a_form_without_the_session_token_changes_nothing(
    console: Console, stack: Stack, two: Two
) -> None:
    async with signed_in(console, two.first.key) as client:
        refused = await client.post(
            f"/connections/{two.first.connection_id}/disconnect", data={"csrf": "forged"}
        )
        missing = await client.post(f"/connections/{two.first.connection_id}/disconnect")
    async with httpx.AsyncClient(timeout=15) as http:
        still = await http.get(
            f"{stack.ends.auth}/v1/connections/{two.first.connection_id}", headers=two.first.auth_header
        )
    assert refused.status_code == 403
    assert missing.status_code == 403
    assert still.json()["status"] == "active"


async def test_the_session_cookie_is_httponly_and_strict_and_the_key_stays_on_the_server(
    console: Console, two: Two
) -> None:
    client = httpx.AsyncClient(base_url=console.url, timeout=15)
    async with client:
        form = (await client.get("/sign-in")).text
        token = re.search(r'name="signin_token" value="([^"]+)"', form)
        assert token is not None
        answer = await client.post("/sign-in", data={"signin_token": token.group(1), "key": two.first.key})
        cookie = next(v for v in answer.headers.get_list("set-cookie") if v.startswith("qbb_console="))
        pages = [
            await client.get(p) for p in ("/connections", f"/connections/{two.first.connection_id}/history")
        ]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert two.first.key not in cookie
    assert all(p.status_code == 200 for p in pages)
    assert all(two.first.key not in p.text and two.first.key not in str(p.url) for p in pages)
    assert pages[0].headers["cache-control"] == "no-store"


async def test_sign_in_without_the_forms_token_or_with_an_unknown_key_is_refused(console: Console) -> None:
    async with httpx.AsyncClient(base_url=console.url, timeout=15) as client:
        forged = await client.post("/sign-in", data={"signin_token": "x", "key": "dev-admin-key"})
        form = (await client.get("/sign-in")).text
        token = re.search(r'name="signin_token" value="([^"]+)"', form)
        assert token is not None
        unknown = await client.post("/sign-in", data={"signin_token": token.group(1), "key": "qbb_nobody_x"})
        after = await client.get("/connections")
    assert forged.status_code == 400
    assert unknown.status_code == 401
    assert "unknown or revoked" in unknown.text
    assert after.status_code == 303
    assert after.headers["location"] == "/sign-in"


async def test_sign_out_ends_the_session(console: Console, two: Two) -> None:
    async with signed_in(console, two.first.key) as client:
        session_cookie = client.cookies["qbb_console"]
        out = await client.post("/sign-out", data={"csrf": await csrf_of(client)})
        client.cookies.set("qbb_console", session_cookie)
        again = await client.get("/connections")
    assert out.status_code == 303
    assert again.status_code == 303
    assert again.headers["location"] == "/sign-in"


async def test_the_operator_sees_every_tenants_connections(
    console: Console, stack: Stack, two: Two, page: Page
) -> None:
    await sign_in(page, console.url, stack.ends.admin_key)
    await expect(page.get_by_text("operator (admin key)")).to_be_visible()
    for tenant in (two.first, two.second):
        await expect(page.get_by_role("link", name=tenant.connection["company"]["name"])).to_be_visible()


async def test_an_import_shows_its_progress_until_done(
    console: Console, two: Two, page: Page, screenshots: Path
) -> None:
    await sign_in(page, console.url, two.first.key)
    await page.goto(f"{console.url}/connections/{two.first.connection_id}/imports")
    await page.get_by_role("button", name="Import everything").click()
    await expect(page.get_by_role("status")).to_contain_text("has started")
    box = page.locator(".import").first
    await expect(box.locator("progress")).to_have_attribute("value", "1", timeout=60_000)
    await expect(box.locator("[data-count]")).not_to_have_text("0 objects published")
    await shot(page, screenshots, "09-imports")


async def test_the_pages_fit_a_phone(console: Console, two: Two, page: Page, screenshots: Path) -> None:
    await page.set_viewport_size({"width": 390, "height": 844})
    await sign_in(page, console.url, two.first.key)
    for name, path in (
        ("connections", "/connections"),
        ("history", f"/connections/{two.first.connection_id}/history"),
    ):
        await page.goto(f"{console.url}{path}")
        await shot(page, screenshots, f"10-{name}-390px")
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{name} is {width}px wide"
