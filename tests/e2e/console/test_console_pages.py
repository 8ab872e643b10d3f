"""The console in headless chromium against the whole stack: what a tenant sees and fixes."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from scripts.journey import apply_settings, create_company
from tests.e2e.conftest import Stack
from tests.e2e.console.conftest import Console, shot
from tests.e2e.console.kit import connected_tenant, job_of, rejection_recorded, send, sign_in, uid

pytestmark = pytest.mark.e2e


async def test_a_tenant_signs_in_and_sees_its_connection_and_readiness(
    stack: Stack, console: Console, page: Page, screenshots: Path
) -> None:
    async with httpx.AsyncClient(timeout=15) as http:
        tenant = await connected_tenant(http, stack.ends)
    await page.goto(f"{console.url}/sign-in")
    await shot(page, screenshots, "01-sign-in")
    await sign_in(page, console.url, tenant.key)
    company = tenant.connection["company"]["name"]
    await expect(page.get_by_role("link", name=company)).to_be_visible()
    await expect(page.get_by_text(f"tenant {tenant.tenant_id}")).to_be_visible()
    await shot(page, screenshots, "02-connections")
    await page.get_by_role("link", name=company).click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(company)
    await expect(page.locator("dl.grid")).to_contain_text("US")
    await shot(page, screenshots, "03-connection")
    await page.get_by_role("link", name="Readiness").click()
    rows = page.locator("table tbody tr")
    await expect(rows.first).to_be_visible()
    assert await rows.count() >= 10
    await expect(page.get_by_role("cell", name="currency", exact=True)).to_be_visible()
    await shot(page, screenshots, "04-readiness")
    assert tenant.key not in await page.content()


async def test_a_setting_shows_its_error_beside_the_field_then_saves(
    stack: Stack, console: Console, page: Page, screenshots: Path
) -> None:
    async with httpx.AsyncClient(timeout=15) as http:
        tenant = await connected_tenant(http, stack.ends)
    await sign_in(page, console.url, tenant.key)
    await page.goto(f"{console.url}/connections/{tenant.connection_id}/settings")
    suffix = page.get_by_label("Vendor name collision suffix")
    await suffix.fill(" (v):bad")
    await page.get_by_role("button", name="Save settings").click()
    error = page.locator("#f-vendor-name-collision-suffix-err")
    await expect(error).to_contain_text("may not contain ':'")
    await expect(suffix).to_have_attribute("aria-invalid", "true")
    await expect(suffix).to_have_value(" (v):bad")
    await shot(page, screenshots, "05-settings-error")
    await suffix.fill(" (vendor)")
    await page.get_by_label("Income", exact=True).fill("Services")
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.get_by_role("status")).to_contain_text("Saved as version 1")
    await expect(page.locator("section.card table tbody tr")).to_have_count(1)
    await shot(page, screenshots, "06-settings-saved")
    async with httpx.AsyncClient(timeout=15) as http:
        saved = await http.get(
            f"{stack.ends.mapper}/v1/connections/{tenant.connection_id}/settings", headers=tenant.auth_header
        )
    assert saved.json()["version"] == 1
    assert saved.json()["settings"]["vendor_name_collision_suffix"] == " (vendor)"
    assert saved.json()["settings"]["accounts"]["income"] == "Services"


async def test_the_history_shows_successes_failures_and_rejections_and_a_retry_succeeds(
    stack: Stack, console: Console, page: Page, screenshots: Path
) -> None:
    ends = stack.ends
    taken = uid("Taken Name")
    async with httpx.AsyncClient(timeout=15) as http:
        tenant = await connected_tenant(http, ends)
        # A person made a vendor in QuickBooks with the name the platform's new customer will want.
        act = f"{ends.sandbox}/admin/companies/{tenant.realm_id}/act/Vendor"
        vendor = (await http.post(act, json={"body": {"DisplayName": taken}})).json()["Vendor"]
        good, clash = uid("Good"), taken
        # Vendors switched off: the platform's vendor event is rejected by the mapper, with its reason.
        await apply_settings(http, ends, tenant, {"categories": {"vendors": {"enabled": False}}})
        await send(http, ends, tenant, "vendor.upserted", {"vendor_id": "ven_off", "name": uid("Off Vendor")})
        await send(
            http,
            ends,
            tenant,
            "customer.upserted",
            {"customer_id": f"cus_{good}", "code": good, "name": good},
        )
        await send(
            http,
            ends,
            tenant,
            "customer.upserted",
            {"customer_id": "cus_clash", "code": clash, "name": clash},
        )
        await job_of(http, ends, tenant, f"cus_{good}", status="succeeded")
        failed = await job_of(http, ends, tenant, "cus_clash", status="failed")
        events_route = await rejection_recorded(http, ends, tenant, "ven_off")
    await sign_in(page, console.url, tenant.key)
    await page.goto(f"{console.url}/connections/{tenant.connection_id}/history")
    succeeded_row = page.locator("tr.row-succeeded", has_text=f"cus_{good}")
    await expect(succeeded_row).to_contain_text("Written to QuickBooks")
    link = succeeded_row.get_by_role("link")
    assert (await link.get_attribute("href") or "").startswith(f"{ends.sandbox}/companies/{tenant.realm_id}")
    failed_row = page.locator("tr.row-failed", has_text="cus_clash")
    await expect(failed_row).to_contain_text(failed["last_error"])
    await failed_row.locator("summary").click()
    await expect(failed_row.locator("pre")).to_contain_text(failed["error_code"])
    if events_route is None:  # the mapper's events route is not deployed: the page says so
        await expect(page.get_by_text("not available from the mapper yet")).to_be_visible()
    else:
        rejected_row = page.locator("tr.row-rejected", has_text="ven_off")
        await expect(rejected_row).to_contain_text(events_route["message"])
    await shot(page, screenshots, "07-history")

    # The person renames the vendor in QuickBooks, then presses Retry: the customer is written.
    async with httpx.AsyncClient(timeout=15) as http:
        rename = {
            "Id": vendor["Id"],
            "SyncToken": vendor["SyncToken"],
            "DisplayName": f"{taken} (supplier)",
            "sparse": True,
        }
        renamed = await http.post(act, json={"operation": "update", "body": rename})
        assert renamed.status_code == 200, renamed.text
    await failed_row.get_by_role("button", name="Retry").click()
    await expect(page.get_by_role("status")).to_contain_text("queued again")
    async with httpx.AsyncClient(timeout=15) as http:
        done = await job_of(http, ends, tenant, "cus_clash", status="succeeded")
    await page.goto(f"{console.url}/connections/{tenant.connection_id}/history?status=succeeded")
    await expect(page.locator("tr.row-succeeded", has_text="cus_clash")).to_contain_text(f"#{done['qbo_id']}")
    await expect(page.locator("tr.row-failed")).to_have_count(0)
    await shot(page, screenshots, "08-history-after-retry")


async def test_an_operator_connects_a_company_through_the_consent_page(
    stack: Stack, console: Console, page: Page, screenshots: Path
) -> None:
    async with httpx.AsyncClient(timeout=15) as http:
        realm = await create_company(http, stack.ends, country="GB")
    await sign_in(page, console.url, stack.ends.admin_key)
    await page.get_by_label("Tenant").fill(uid("tenant"))
    await page.get_by_label("Expected currency").fill("GBP")
    await page.get_by_role("button", name="Connect to QuickBooks").click()
    await page.get_by_label("Company").select_option(realm)
    await shot(page, screenshots, "12-sandbox-consent")
    await page.get_by_role("button", name="Connect", exact=True).click()
    await page.wait_for_url(re.compile(re.escape(console.url) + r"/connections/[0-9a-f-]{36}$"))
    await expect(page.locator("h1 .badge")).to_have_text("active")
    await expect(page.locator("dl.grid")).to_contain_text("GB")
    await shot(page, screenshots, "13-connected")
