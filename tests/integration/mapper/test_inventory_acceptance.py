"""Inventory items through the sandbox: created with their stock, which sales and credits then move."""

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
from tests.unit.mapper.events import inventory_item

pytestmark = pytest.mark.integration


@pytest.fixture
async def sandbox(sandbox_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=10) as client:
        yield client


class Company:
    """One sandbox company the mapper plans events for, written in order like the exporter would."""

    def __init__(self, sandbox: httpx.AsyncClient, country: str, realm: str, token: str) -> None:
        self.sandbox, self.country, self.realm = sandbox, country, realm
        self.writer = SandboxWriter(sandbox, realm, token)

    async def send(self, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
        commands = service.plan(
            event_type,
            CATALOGUE[event_type].model.model_validate(data),
            target=Target("conn-stock", self.realm, c.company(self.country)),
            settings=c.settings(
                accounts={
                    "income": "Sales of Product Income",
                    "expense": "Office Expenses",
                    "inventory_asset": "Inventory Asset",
                    "cost_of_goods_sold": "Cost of Goods Sold",
                }
            ),
            reference=await mirror_of(self.sandbox, self.realm),
            source_event_id=f"evt-{event_type}",
        )
        written: dict[str, Any] = {}
        for command in commands:
            written = await self.writer.apply(command)
        return written


async def company(sandbox: httpx.AsyncClient, country: str) -> Company:
    realm, token = await sandbox_company(sandbox, country=country, custom_txn_numbers=True)
    return Company(sandbox, country, realm, token)


def gadgets(qty: str) -> dict[str, Any]:
    return c.sales_line(item_code="GADGET", quantity=qty, unit_price="25.00", amount=str(25 * int(qty)))


@pytest.mark.parametrize("country", ["US", "GB", "CA", "AU"])
async def test_an_inventory_item_lands_with_its_stock_and_accounts(
    sandbox: httpx.AsyncClient, country: str
) -> None:
    books = await company(sandbox, country)

    item = await books.send("item.upserted", inventory_item())

    accounts = {
        a["Id"]: a["Name"]
        for a in (await sandbox.get(f"/admin/companies/{books.realm}/entities/Account")).json()
    }
    assert (item["Type"], item["TrackQtyOnHand"], Decimal(str(item["QtyOnHand"]))) == (
        "Inventory",
        True,
        Decimal(40),
    )
    assert item["InvStartDate"] == "2026-11-01"
    assert accounts[item["AssetAccountRef"]["value"]] == "Inventory Asset"
    assert accounts[item["ExpenseAccountRef"]["value"]] == "Cost of Goods Sold"


@pytest.mark.parametrize("country", ["US", "GB"])
async def test_an_invoice_and_a_credit_note_move_the_items_quantity(
    sandbox: httpx.AsyncClient, country: str
) -> None:
    books = await company(sandbox, country)
    item = await books.send("item.upserted", inventory_item())
    rate = c.LINE_RATE[country]

    await books.send("invoice.approved", c.invoice(country, lines=[gadgets("3") | {"tax_rate": rate}]))
    after_invoice = await books.writer.read("Item", item["Id"])
    credit = {
        "credit_note_id": "cn_stock",
        "number": "CN-S1",
        "issue_date": "2026-11-05",
        "customer": c.customer(),
        "lines": [gadgets("1") | {"tax_rate": rate}],
    }
    await books.send("credit_note.issued", credit)
    after_credit = await books.writer.read("Item", item["Id"])

    assert Decimal(str(after_invoice["QtyOnHand"])) == Decimal("37")
    assert Decimal(str(after_credit["QtyOnHand"])) == Decimal("38")


async def test_upserting_a_known_inventory_item_keeps_the_stock_qbo_moved(sandbox: httpx.AsyncClient) -> None:
    books = await company(sandbox, "US")
    item = await books.send("item.upserted", inventory_item())
    await books.send("invoice.approved", c.invoice("US", lines=[gadgets("5")]))

    await books.send("item.upserted", inventory_item(description="A better gadget", quantity_on_hand="40"))

    updated = await books.writer.read("Item", item["Id"])
    assert updated["Description"] == "A better gadget"
    assert Decimal(str(updated["QtyOnHand"])) == Decimal("35")
