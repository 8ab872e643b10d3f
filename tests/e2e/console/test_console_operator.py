"""The operator's pages and the newer actions: keys, platforms, dead letters, re-push, backfills, scoping."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import httpx
import pytest
from playwright.async_api import Page, expect

from scripts.journey import Tenant, connect_tenant, create_company, event, until_reference_imported
from shared.messaging import topology
from shared.messaging.outbox import to_amqp
from tests.e2e.conftest import Stack
from tests.e2e.console.conftest import Console, shot
from tests.e2e.console.kit import connected_tenant, job_of, send, sign_in, uid
from tests.e2e.console.test_console_access import signed_in
from tests.helpers.platforms import Registry, registry

# The first test also waits for the whole stack to start on a loaded machine.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
ADMIN_KEY = "dev-admin-key"


@dataclass(frozen=True)
class One:
    tenant: Tenant
    job: dict[str, str]


@pytest.fixture(scope="module")
async def one(stack: Stack) -> One:
    async with httpx.AsyncClient(timeout=15) as http:
        tenant = await connected_tenant(http, stack.ends)
        code = uid("Pushed")
        await send(
            http, stack.ends, tenant, "customer.upserted", {"customer_id": f"cus_{code}", "code": code}
        )
        job = await job_of(http, stack.ends, tenant, f"cus_{code}", status="succeeded")
    return One(tenant, job)


@pytest.fixture
async def platforms(stack: Stack) -> AsyncIterator[Registry]:
    async with (
        httpx.AsyncClient(timeout=15) as http,
        registry(http, stack.ends.auth, stack.ends.namespace) as made,
    ):
        yield made


async def succeeded_jobs(http: httpx.AsyncClient, stack: Stack, tenant: Tenant, platform_id: str) -> int:
    url = f"{stack.ends.exporter}/v1/connections/{tenant.connection_id}/jobs"
    jobs = (await http.get(url, headers=tenant.auth_header, params={"status": "succeeded"})).json()["jobs"]
    return sum(1 for j in jobs if j["platform_id"] == platform_id)


async def test_operator_pages_refuse_a_tenant_key(console: Console, one: One) -> None:
    async with signed_in(console, one.tenant.key) as client:
        pages = [await client.get(f"/operator/{p}") for p in ("platforms", "tenants", "dead-letters")]
        own = await client.get(f"/operator/tenants/{one.tenant.tenant_id}")
        csrf = re.search(r'name="csrf" value="([^"]+)"', (await client.get("/connections")).text)
        assert csrf is not None
        issue = await client.post(
            f"/operator/tenants/{one.tenant.tenant_id}/keys", data={"csrf": csrf.group(1)}
        )
        menu = (await client.get("/connections")).text
    assert [p.status_code for p in pages] == [403, 403, 403]
    assert "Operators only" in pages[0].text
    assert (own.status_code, issue.status_code) == (403, 403)
    assert "/operator/" not in menu


async def test_the_operator_issues_a_key_shown_once_and_revokes_it(
    console: Console, stack: Stack, one: One, page: Page, screenshots: Path
) -> None:
    tenant_id = one.tenant.tenant_id
    url = f"{stack.ends.auth}/v1/connections/{one.tenant.connection_id}"
    await sign_in(page, console.url, ADMIN_KEY)
    await page.get_by_role("link", name="Tenants and keys").click()
    await page.get_by_role("link", name=tenant_id).click()
    await page.get_by_role("button", name=f"Issue an API key for {tenant_id}").click()
    issued = await page.get_by_label("API key").input_value()
    key_id = await page.locator("[data-issued-key-id]").inner_text()
    await shot(page, screenshots, "21-operator-key-issued")
    async with httpx.AsyncClient(timeout=15) as http:
        before = await http.get(url, headers={"Authorization": f"Bearer {issued}"})
        await page.goto(f"{console.url}/operator/tenants/{tenant_id}")
        shown_again = issued in await page.content()
        await page.get_by_role("button", name=f"Revoke key {key_id}").click()
        await expect(page.get_by_role("status")).to_contain_text(f"Key {key_id} revoked")
        await expect(page.get_by_role("button", name=f"Revoke key {key_id}")).to_have_count(0)
        after = await http.get(url, headers={"Authorization": f"Bearer {issued}"})
    assert before.status_code == 200
    assert not shown_again, "the key is shown once, not on the next visit"
    assert after.status_code == 401


async def test_the_operator_sees_platforms_and_a_platform_key_sees_only_its_tenants(
    console: Console, stack: Stack, one: One, platforms: Registry, page: Page, screenshots: Path
) -> None:
    platform = await platforms.register(tenants=2)
    async with httpx.AsyncClient(timeout=15) as http:
        realm = await create_company(http, stack.ends, country="US")
        own = await connect_tenant(http, stack.ends, tenant_id=platform.tenants[0], realm_id=realm)
        await until_reference_imported(http, stack.ends, own)
    await sign_in(page, console.url, ADMIN_KEY)
    await page.get_by_role("link", name="Platforms").click()
    row = page.get_by_role("row").filter(has_text=platform.platform_id)
    for tenant_id in platform.tenants:
        await expect(row.get_by_role("link", name=tenant_id)).to_be_visible()
    await shot(page, screenshots, "22-operator-platforms")
    await page.get_by_role("button", name="Sign out").click()

    await sign_in(page, console.url, platform.api_key)
    await expect(page.get_by_role("link", name=own.connection["company"]["name"])).to_be_visible()
    await expect(page.get_by_text(one.tenant.tenant_id)).to_have_count(0)
    await page.goto(f"{console.url}/connections/{one.tenant.connection_id}/history")
    await expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    await page.goto(f"{console.url}/operator/platforms")
    await expect(page.get_by_role("heading", name="Operators only")).to_be_visible()


async def _dead_letter(stack: Stack, *, body: aio_pika.Message) -> None:
    """A message in the mapper's dead-letter queue, as its consumer leaves one it gave up on."""
    queue = topology.queue_name("mapper.platform-events", stack.ends.namespace)
    connection = await aio_pika.connect_robust(stack.amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        await channel.default_exchange.publish(body, routing_key=topology.dead_letter_queue_name(queue))
    finally:
        await connection.close()


async def test_the_operator_sees_dead_letters_with_their_reason_and_replays_one(
    console: Console, stack: Stack, one: One, page: Page, screenshots: Path
) -> None:
    code = uid("Replayed")
    lost = event("customer.upserted", {"customer_id": f"cus_{code}", "code": code}, tenant=one.tenant)
    headers = {"x-qbb-reason": f"database unreachable {code}", "x-qbb-kind": "failed", "x-qbb-attempts": 5}
    message = to_amqp(lost, headers={**headers, topology.ROUTING_KEY_HEADER: "customer.upserted"})
    garbage = aio_pika.Message(
        b"{not json", message_id=uid("garbage"), headers={"x-qbb-reason": "malformed JSON"}
    )
    await _dead_letter(stack, body=message)
    await _dead_letter(stack, body=garbage)

    await sign_in(page, console.url, ADMIN_KEY)
    await page.get_by_role("link", name="Dead letters").click()
    row = page.get_by_role("row").filter(has_text=lost.id)
    await expect(row).to_contain_text(f"database unreachable {code}")
    await expect(row).to_contain_text("after 5 attempts")
    await expect(page.get_by_role("row").filter(has_text=garbage.message_id or "")).to_contain_text(
        "not replayable"
    )
    await shot(page, screenshots, "23-operator-dead-letters")
    await row.get_by_role("button", name=f"Replay customer.upserted {lost.id}").click()
    await expect(page.get_by_role("status")).to_contain_text(f"Message {lost.id} sent back")
    await expect(page.get_by_role("row").filter(has_text=lost.id)).to_have_count(0)
    async with httpx.AsyncClient(timeout=15) as http:
        job = await job_of(http, stack.ends, one.tenant, f"cus_{code}", status="succeeded", timeout=60)
    assert job["source_event_id"] == lost.id


async def test_a_succeeded_object_is_re_pushed_from_the_history(
    console: Console, stack: Stack, one: One, page: Page, screenshots: Path
) -> None:
    platform_id = one.job["platform_id"]
    await sign_in(page, console.url, one.tenant.key)
    await page.goto(f"{console.url}/connections/{one.tenant.connection_id}/history?status=succeeded")
    link = page.get_by_role("link", name=re.compile(rf"^customer {one.job['qbo_id']} in the sandbox"))
    href = await link.first.get_attribute("href")
    await page.get_by_role("button", name=f"Re-push customer {platform_id}").first.click()
    await expect(page.get_by_role("status")).to_contain_text("Re-push queued")
    async with httpx.AsyncClient(timeout=15) as http, asyncio.timeout(60):
        while await succeeded_jobs(http, stack, one.tenant, platform_id) < 2:
            await asyncio.sleep(0.3)
        sandbox_page = await http.get(href or "")
    await page.reload()
    await shot(page, screenshots, "24-history-re-pushed")
    assert href == f"{stack.ends.sandbox}/companies/{one.tenant.realm_id}/Customer/{one.job['qbo_id']}"
    assert sandbox_page.status_code == 200
    assert f"Customer {one.job['qbo_id']}" in sandbox_page.text


async def test_a_backfill_shows_its_progress_until_done(
    console: Console, stack: Stack, one: One, page: Page, screenshots: Path
) -> None:
    lines = [
        event(
            "customer.upserted", {"customer_id": f"cus_{c}", "code": c}, tenant=one.tenant
        ).model_dump_json()
        for c in (uid("Bulk"), uid("Bulk"))
    ]
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(
            f"{stack.ends.mapper}/v1/events/bulk",
            content="\n".join(lines).encode(),
            headers={**one.tenant.auth_header, "Content-Type": "application/x-ndjson"},
        )
    assert answer.status_code == 202, answer.text
    batch_id = answer.json()["batch_id"]
    await sign_in(page, console.url, one.tenant.key)
    await page.goto(f"{console.url}/connections/{one.tenant.connection_id}/imports")
    await page.get_by_label("Batch id").fill(batch_id)
    await page.get_by_role("button", name="Follow").click()
    await expect(page.get_by_role("status")).to_contain_text(f"Following backfill {batch_id}")
    box = page.locator(".batch").filter(has_text=batch_id)
    await expect(box.locator("[data-status]")).to_have_text("done", timeout=60_000)
    await expect(box.locator("[data-count]")).to_contain_text("2 of 2 settled")
    await expect(box.locator("progress")).to_have_attribute("value", "2")
    await shot(page, screenshots, "25-backfill")


async def test_the_operator_pages_fit_a_phone(
    console: Console, one: One, page: Page, screenshots: Path
) -> None:
    await page.set_viewport_size({"width": 390, "height": 844})
    await sign_in(page, console.url, ADMIN_KEY)
    for name in ("platforms", "tenants", f"tenants/{one.tenant.tenant_id}", "dead-letters"):
        await page.goto(f"{console.url}/operator/{name}")
        await shot(page, screenshots, f"26-operator-{name.replace('/', '-')}-390px")
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{name} is {width}px wide"
    await page.goto(f"{console.url}/operator/tenants")
    await page.keyboard.press("Tab")  # the skip link first, then the menu: everything by keyboard
    await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
