"""The readiness report on a sandbox company with deliberate gaps names every gap."""

from __future__ import annotations

import httpx
import pytest

from services.mapper.reference import MIRRORED
from tests.helpers.sandbox import create_company
from tests.integration.mapper.conftest import Mapper, until
from tests.integration.mapper.qbo_writer import entities

pytestmark = pytest.mark.integration


async def gappy_connection(mapper: Mapper, sandbox_url: str) -> str:
    """A GB Essentials sandbox company (closed books, no custom numbers) mirrored into the mapper."""
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=10) as sandbox:
        realm = await create_company(
            sandbox,
            country="GB",
            edition="essentials",
            custom_txn_numbers=False,
            class_tracking="off",
            book_close_date="2026-06-30",
            seed="minimal",
        )
        company = {
            "name": "Gappy Ltd",
            "country": "GB",
            "home_currency": "GBP",
            "edition": "QuickBooks Online Essentials",
            "custom_txn_numbers": False,
            "tax_mode": "vat_gst",
            "book_close_date": "2026-06-30",
        }
        _, connection_id = await mapper.connect_tenant(company=company, realm_id=realm)
        expected = 0
        for entity in sorted(MIRRORED):
            rows = await entities(sandbox, realm, entity)
            expected += len(rows) if entity == "TaxCode" else 0
            await mapper.mirror(realm, entity, rows)
    await until(lambda: _mirrored(mapper, connection_id, expected))
    return connection_id


async def test_readiness_names_every_gap_of_a_sandbox_company(mapper: Mapper, sandbox_url: str) -> None:
    connection_id = await gappy_connection(mapper, sandbox_url)
    settings = {
        "accounts": {
            "income": "Sales",
            "expense": "Office Expenses",
            "deposit": "Services",
            "refund_from": "Checking",
        },
        "classes": {"enabled": True},
        "categories": {"invoices": {"start_date": "2026-01-01"}},
        "platform_values": {
            "tax_rates": ["20.0% S", "Standard 17.5"],
            "payment_methods": ["Cheque", "Bitcoin"],
            "payment_terms_days": [30, 45],
            "currencies": ["GBP", "EUR"],
        },
    }
    assert (
        await mapper.http.put(f"/v1/connections/{connection_id}/settings", json=settings)
    ).status_code == 200

    report = (await mapper.http.get(f"/v1/connections/{connection_id}/readiness")).json()

    assert report["status"] == "blocking"
    problems = [c for c in report["checks"] if c["status"] != "ok"]
    text = "\n".join(f"{c['name']}: {c['message']}" for c in problems)
    for gap in (
        "currency: the platform uses EUR",
        "edition: purchase orders",
        "'Standard 17.5'",
        "'Bitcoin'",
        "45 days",
        "accounts.income 'Sales' is not in QBO",
        "accounts.deposit 'Services' is a Income",
        "classes: settings use classes",
        "doc_numbers:",
        "book_close: invoices start at 2026-01-01",
    ):
        assert gap in text, f"{gap!r} missing from\n{text}"
    assert all(c["fix"] for c in problems)
    assert not any(c["name"] in ("country", "reference_data") for c in problems)
    assert "'20.0% S'" not in text
    assert "'Cheque'" not in text
    assert "30 days" not in text


async def _mirrored(mapper: Mapper, connection_id: str, tax_codes: int) -> bool:
    response = await mapper.http.get(f"/v1/connections/{connection_id}/reference/tax-codes")
    return response.status_code == 200 and len(response.json()["items"]) == tax_codes
