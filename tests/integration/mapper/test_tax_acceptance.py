"""CA and AU tax through the sandbox: the codes the mapper picks make QBO compute the platform's tax."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from services.mapper import service
from services.mapper.mapping import Target
from shared.contracts import CATALOGUE
from tests.integration.mapper.qbo_writer import SandboxWriter, mirror_of, sandbox_company
from tests.unit.mapper import companies as c

pytestmark = pytest.mark.integration


@pytest.fixture
async def sandbox(sandbox_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=10) as client:
        yield client


async def write(
    sandbox: httpx.AsyncClient, country: str, event_type: str, data: dict[str, Any], **settings: Any
) -> tuple[dict[str, Any], str]:
    """Plan one event against a new sandbox company and write it; (the last object written, realm)."""
    realm, token = await sandbox_company(sandbox, country=country, custom_txn_numbers=True)
    writer = SandboxWriter(sandbox, realm, token)
    commands = service.plan(
        event_type,
        CATALOGUE[event_type].model.model_validate(data),
        target=Target("conn-tax", realm, c.company(country)),
        settings=c.settings(**settings),
        reference=await mirror_of(sandbox, realm),
        source_event_id="evt-tax",
    )
    written: dict[str, Any] = {}
    for command in commands:
        written = await writer.apply(command)
    return written, realm


def tax_by_rate(obj: dict[str, Any], rates: list[dict[str, Any]]) -> dict[str, Decimal]:
    names = {r["Id"]: r["Name"] for r in rates}
    return {
        names[line["TaxLineDetail"]["TaxRateRef"]["value"]]: Decimal(str(line["Amount"]))
        for line in obj["TxnTaxDetail"]["TaxLine"]
    }


async def test_a_ca_invoice_with_a_group_rate_and_hst_lands_with_each_rates_tax(
    sandbox: httpx.AsyncClient,
) -> None:
    lines = [
        c.sales_line(quantity="1", unit_price="100.00", amount="100.00", tax_rate="GST+PST"),
        c.sales_line(quantity="1", unit_price="50.00", amount="50.00", tax_rate="HST ON"),
    ]
    invoice, realm = await write(
        sandbox,
        "CA",
        "invoice.approved",
        c.invoice("CA", lines=lines),
        tax={"groups": {"GST+PST": ["GST", "PST BC"]}},
    )

    rates = (await sandbox.get(f"/admin/companies/{realm}/entities/TaxRate")).json()
    assert tax_by_rate(invoice, rates) == {
        "GST": Decimal("5.00"),
        "PST BC": Decimal("7.00"),
        "HST ON": Decimal("6.50"),
    }
    assert Decimal(str(invoice["TotalAmt"])) == Decimal("168.50")


async def test_a_ca_bill_with_the_group_code_is_taxed_on_its_purchase_rates(
    sandbox: httpx.AsyncClient,
) -> None:
    line = {
        "description": "Paper",
        "account": "Office Expenses",
        "amount": "200.00",
        "tax_rate": "GST/PST BC",
    }
    bill, _ = await write(sandbox, "CA", "bill.approved", c.purchase("bill", "CA", lines=[line]))

    assert Decimal(str(bill["TxnTaxDetail"]["TotalTax"])) == Decimal("24.00")
    assert Decimal(str(bill["TotalAmt"])) == Decimal("224.00")


async def test_an_au_gst_inclusive_invoice_lands_with_gst_as_one_eleventh(sandbox: httpx.AsyncClient) -> None:
    lines = [c.sales_line(quantity="1", unit_price="110.00", amount="110.00", tax_rate="GST")]
    invoice, realm = await write(
        sandbox, "AU", "invoice.approved", c.invoice("AU", lines=lines, tax_inclusive=True)
    )

    rates = (await sandbox.get(f"/admin/companies/{realm}/entities/TaxRate")).json()
    assert tax_by_rate(invoice, rates) == {"GST": Decimal("10.00")}
    assert Decimal(str(invoice["TotalAmt"])) == Decimal("110.00")


async def test_an_au_gst_free_line_adds_no_tax(sandbox: httpx.AsyncClient) -> None:
    lines = [
        c.sales_line(quantity="1", unit_price="40.00", amount="40.00", tax_rate="GST free"),
        c.sales_line(quantity="1", unit_price="60.00", amount="60.00", tax_rate="GST"),
    ]
    invoice, _ = await write(sandbox, "AU", "invoice.approved", c.invoice("AU", lines=lines))

    assert Decimal(str(invoice["TxnTaxDetail"]["TotalTax"])) == Decimal("6.00")
    assert Decimal(str(invoice["TotalAmt"])) == Decimal("106.00")
