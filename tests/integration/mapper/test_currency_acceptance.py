"""A GBP company invoicing in EUR through the sandbox: documents, payments and refunds at their rates."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from services.mapper import service
from services.mapper.mapping import Rejection, Target
from shared.contracts import CATALOGUE
from tests.integration.mapper.qbo_writer import SandboxWriter, mirror_of, sandbox_company
from tests.unit.mapper import companies as c

pytestmark = pytest.mark.integration


@pytest.fixture
async def sandbox(sandbox_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=10) as client:
        yield client


class Books:
    """A GB multicurrency company with EUR in its currency list, written in order like the exporter."""

    def __init__(self, sandbox: httpx.AsyncClient, realm: str, token: str) -> None:
        self.sandbox, self.realm = sandbox, realm
        self.writer = SandboxWriter(sandbox, realm, token)
        self.profile = c.company("GB", multicurrency=True, currencies=["EUR"])

    async def send(self, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
        commands = service.plan(
            event_type,
            CATALOGUE[event_type].model.model_validate(data),
            target=Target("conn-fx", self.realm, self.profile),
            settings=c.settings(),
            reference=await mirror_of(self.sandbox, self.realm),
            source_event_id=f"evt-{event_type}",
        )
        written: dict[str, Any] = {}
        for command in commands:
            written = await self.writer.apply(command)
        return written


@pytest.fixture
async def books(sandbox: httpx.AsyncClient) -> Books:
    realm, token = await sandbox_company(
        sandbox, country="GB", multicurrency=True, custom_txn_numbers=True, seed="sample"
    )
    added = await sandbox.post(
        f"/admin/companies/{realm}/act/CompanyCurrency", json={"body": {"Code": "EUR"}}
    )
    assert added.status_code == 200, added.text
    return Books(sandbox, realm, token)


def eur_invoice() -> dict[str, Any]:
    line = c.sales_line(quantity="4", unit_price="25.00", amount="100.00", tax_rate="20.0% S")
    return c.invoice(
        "GB", customer=c.customer(currency="EUR"), currency="EUR", exchange_rate="0.85", lines=[line]
    )


def money(value: Any) -> Decimal:
    return Decimal(str(value))


async def test_an_eur_invoice_lands_with_its_home_currency_amounts(books: Books) -> None:
    invoice = await books.send("invoice.approved", eur_invoice())

    assert (invoice["CurrencyRef"]["value"], money(invoice["ExchangeRate"])) == ("EUR", Decimal("0.85"))
    assert money(invoice["TotalAmt"]) == Decimal("120.00")
    assert money(invoice["HomeTotalAmt"]) == Decimal("102.00")
    assert money(invoice["HomeBalance"]) == Decimal("102.00")


async def test_an_eur_payment_at_its_own_rate_pays_the_eur_invoice(books: Books) -> None:
    invoice = await books.send("invoice.approved", eur_invoice())
    payment = {
        "payment_id": "pay_eur",
        "date": "2026-11-10",
        "amount": "120.00",
        "currency": "EUR",
        "exchange_rate": "0.87",
        "customer": {"code": "ACME"},
        "applied_to": [{"invoice_id": "inv_1", "amount": "120.00"}],
    }

    paid = await books.send("payment.recorded", payment)

    assert (paid["CurrencyRef"]["value"], money(paid["ExchangeRate"])) == ("EUR", Decimal("0.87"))
    after = await books.writer.read("Invoice", invoice["Id"])
    assert (money(after["Balance"]), money(after["HomeBalance"])) == (Decimal("0"), Decimal("0"))


async def test_an_eur_refund_lands_at_its_own_rate(books: Books) -> None:
    await books.send("customer.upserted", c.customer(currency="EUR"))
    refund = {
        "refund_id": "ref_eur",
        "date": "2026-11-12",
        "amount": "90.00",
        "currency": "EUR",
        "exchange_rate": "0.86",
        "customer": {"code": "ACME"},
        "lines": [c.sales_line(quantity="1", unit_price="75.00", amount="75.00", tax_rate="20.0% S")],
    }

    written = await books.send("refund.issued", refund)

    assert (written["CurrencyRef"]["value"], money(written["ExchangeRate"])) == ("EUR", Decimal("0.86"))
    assert money(written["HomeTotalAmt"]) == Decimal("77.40")


async def test_a_currency_the_company_has_not_added_is_refused_before_qbo(books: Books) -> None:
    data = eur_invoice() | {"currency": "CHF", "customer": c.customer(currency="CHF")}

    with pytest.raises(Rejection) as refused:
        await books.send("invoice.approved", data)

    assert "Settings > Currencies" in refused.value.problems[0].hint
    assert await books.writer.query_one("Invoice", "DocNumber", "INV-1001") is None
