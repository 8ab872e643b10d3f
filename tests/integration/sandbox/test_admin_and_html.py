"""The /admin API and the read-only HTML view."""

from __future__ import annotations

import httpx

from tests.helpers.sandbox import create_company, start_sandbox, stop_sandbox
from tests.integration.sandbox.conftest import Realm


async def test_company_setup_per_country(admin: httpx.AsyncClient) -> None:
    for country, expected in (
        ("US", {"TAX", "NON", "California"}),
        ("CA", {"GST", "HST ON"}),
        ("AU", {"GST", "GST free"}),
    ):
        realm_id = await create_company(admin, country=country, seed="minimal")
        codes = (await admin.get(f"/admin/companies/{realm_id}/entities/TaxCode")).json()
        assert expected <= {c["Name"] for c in codes}
        terms = (await admin.get(f"/admin/companies/{realm_id}/entities/Term")).json()
        assert {t["Name"] for t in terms} == {"Due on receipt", "Net 15", "Net 30", "Net 60"}


async def test_sample_seed_adds_customers_vendors_and_items(admin: httpx.AsyncClient) -> None:
    realm_id = await create_company(admin, seed="sample")
    customers = (await admin.get(f"/admin/companies/{realm_id}/entities/Customer")).json()
    names = {c["FullyQualifiedName"] for c in customers}
    assert "Amy's Bird Sanctuary" in names
    assert "Freeman Sporting Goods:55 Twin Lane" in names
    minimal = await create_company(admin, seed="minimal")
    assert (await admin.get(f"/admin/companies/{minimal}/entities/Customer")).json() == []


async def test_invalid_company_settings_are_refused(admin: httpx.AsyncClient) -> None:
    reply = await admin.post("/admin/companies", json={"company_name": "x", "country": "FR"})
    assert reply.status_code == 400
    reply = await admin.post(
        "/admin/companies", json={"company_name": "x", "edition": "essentials", "class_tracking": "per_line"}
    )
    assert reply.status_code == 400


async def test_html_view_lists_companies_and_escapes_content(realm: Realm, admin: httpx.AsyncClient) -> None:
    await realm.post("/customer", {"DisplayName": "<script>alert(1)</script> Ltd"})
    index = await admin.get("/")
    assert realm.realm_id in index.text
    page = await admin.get(f"/companies/{realm.realm_id}")
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Ltd" in page.text
    assert "<script>" not in page.text
    for heading in (
        "Customer",
        "Vendor",
        "Item",
        "Invoice",
        "CreditMemo",
        "Payment",
        "Bill",
        "PurchaseOrder",
    ):
        assert f'<h2 id="{heading}">{heading}</h2>' in page.text


async def test_each_object_has_its_own_escaped_page_linked_from_its_row(
    realm: Realm, admin: httpx.AsyncClient
) -> None:
    made = (await realm.post("/customer", {"DisplayName": "<b>Bold</b> & Co"})).json()["Customer"]
    path = f"/companies/{realm.realm_id}/Customer/{made['Id']}"
    listing = await admin.get(f"/companies/{realm.realm_id}")
    shown = await admin.get(path)
    unknown = await admin.get(f"/companies/{realm.realm_id}/Customer/999999")
    assert f'href="{path}"' in listing.text
    assert shown.status_code == 200
    assert "&lt;b&gt;Bold&lt;/b&gt; &amp; Co" in shown.text
    assert "<b>Bold" not in shown.text
    assert f"&quot;SyncToken&quot;: &quot;{made['SyncToken']}&quot;" in shown.text
    assert unknown.status_code == 404


async def test_requests_log_filters_by_since(realm: Realm, admin: httpx.AsyncClient) -> None:
    await realm.get(f"/companyinfo/{realm.realm_id}")
    log = (await admin.get("/admin/requests", params={"realm_id": realm.realm_id})).json()
    later = (
        await admin.get(
            "/admin/requests", params={"realm_id": realm.realm_id, "since": "2999-01-01T00:00:00Z"}
        )
    ).json()
    assert log
    assert later == []


async def test_reset_forgets_everything() -> None:
    url, process = start_sandbox()
    try:
        async with httpx.AsyncClient(base_url=url) as client:
            await create_company(client)
            await client.put("/admin/limits", json={"per_second": 1})
            assert (await client.post("/admin/reset")).status_code == 200
            assert (await client.get("/admin/companies")).json() == []
            assert (await client.get("/admin/limits")).json()["per_second"] == 10
    finally:
        stop_sandbox(process)


async def test_html_view_shows_the_sample_transactions_and_people(
    realm: Realm, admin: httpx.AsyncClient
) -> None:
    page = (await admin.get(f"/companies/{realm.realm_id}")).text

    for heading in (
        "Employee",
        "Estimate",
        "Deposit",
        "VendorCredit",
        "Purchase",
        "Transfer",
        "TimeActivity",
    ):
        assert f'<h2 id="{heading}">{heading}</h2>' in page
    assert "Emily Platt" in page
    assert "<td>CreditCard</td>" in page
