"""Quantity on hand over HTTP: sales take stock out, credits and purchases bring it back, as QBO does."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from tests.integration.sandbox.conftest import Realm


async def accounts(realm: Realm) -> dict[str, str]:
    query = "select * from Account"
    rows = (await realm.get("/query", query=query)).json()["QueryResponse"]["Account"]
    return {row["Name"]: row["Id"] for row in rows}


async def inventory_item(realm: Realm, qty: str = "10") -> dict[str, Any]:
    ids = await accounts(realm)
    body = {
        "Name": f"Widget {uuid.uuid4().hex[:6]}",
        "Type": "Inventory",
        "TrackQtyOnHand": True,
        "QtyOnHand": qty,
        "InvStartDate": "2026-01-01",
        "IncomeAccountRef": {"value": ids["Sales of Product Income"]},
        "ExpenseAccountRef": {"value": ids["Cost of Goods Sold"]},
        "AssetAccountRef": {"value": ids["Inventory Asset"]},
    }
    reply = await realm.post("/item", body)
    assert reply.status_code == 200, reply.text
    item: dict[str, Any] = reply.json()["Item"]
    return item


async def on_hand(realm: Realm, item: dict[str, Any]) -> Decimal:
    return Decimal(str((await realm.get(f"/item/{item['Id']}")).json()["Item"]["QtyOnHand"]))


def sales_line(item: dict[str, Any], qty: int, price: str = "5.00") -> dict[str, Any]:
    return {
        "Amount": str(Decimal(price) * qty),
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {"ItemRef": {"value": item["Id"]}, "Qty": qty, "UnitPrice": price},
    }


async def customer(realm: Realm) -> str:
    reply = await realm.post("/customer", {"DisplayName": f"Stock C {uuid.uuid4().hex[:6]}"})
    return str(reply.json()["Customer"]["Id"])


async def post(realm: Realm, entity: str, body: dict[str, Any], **params: Any) -> dict[str, Any]:
    reply = await realm.post(f"/{entity.lower()}", body, **params)
    assert reply.status_code == 200, reply.text
    found: dict[str, Any] = reply.json()[entity]
    return found


async def test_an_invoice_takes_stock_out_and_a_credit_memo_brings_it_back(realm: Realm) -> None:
    item, who = await inventory_item(realm), await customer(realm)

    await post(realm, "Invoice", {"CustomerRef": {"value": who}, "Line": [sales_line(item, 3)]})
    after_invoice = await on_hand(realm, item)
    await post(realm, "CreditMemo", {"CustomerRef": {"value": who}, "Line": [sales_line(item, 1)]})

    assert after_invoice == Decimal("7")
    assert await on_hand(realm, item) == Decimal("8")


async def test_a_sales_receipt_takes_stock_out_and_a_refund_receipt_brings_it_back(realm: Realm) -> None:
    item, who = await inventory_item(realm), await customer(realm)
    checking = (await accounts(realm))["Checking"]

    await post(realm, "SalesReceipt", {"CustomerRef": {"value": who}, "Line": [sales_line(item, 4)]})
    after_sale = await on_hand(realm, item)
    refund = {
        "CustomerRef": {"value": who},
        "Line": [sales_line(item, 1)],
        "DepositToAccountRef": {"value": checking},
    }
    await post(realm, "RefundReceipt", refund)

    assert after_sale == Decimal("6")
    assert await on_hand(realm, item) == Decimal("7")


async def test_a_bill_brings_stock_in_and_a_purchase_order_does_not(realm: Realm) -> None:
    item = await inventory_item(realm)
    vendor = (await realm.post("/vendor", {"DisplayName": f"Stock V {uuid.uuid4().hex[:6]}"})).json()[
        "Vendor"
    ]
    line = {
        "Amount": "24.00",
        "DetailType": "ItemBasedExpenseLineDetail",
        "ItemBasedExpenseLineDetail": {"ItemRef": {"value": item["Id"]}, "Qty": 6, "UnitPrice": "4.00"},
    }

    await post(realm, "PurchaseOrder", {"VendorRef": {"value": vendor["Id"]}, "Line": [line]})
    after_order = await on_hand(realm, item)
    await post(realm, "Bill", {"VendorRef": {"value": vendor["Id"]}, "Line": [line]})

    assert after_order == Decimal("10")
    assert await on_hand(realm, item) == Decimal("16")


async def test_changing_voiding_and_deleting_a_sale_moves_its_stock_back(realm: Realm) -> None:
    item, who = await inventory_item(realm), await customer(realm)
    invoice = await post(realm, "Invoice", {"CustomerRef": {"value": who}, "Line": [sales_line(item, 3)]})
    memo = await post(realm, "CreditMemo", {"CustomerRef": {"value": who}, "Line": [sales_line(item, 2)]})

    changed = {
        "Id": invoice["Id"],
        "SyncToken": invoice["SyncToken"],
        "sparse": True,
        "Line": [sales_line(item, 5)],
    }
    invoice = await post(realm, "Invoice", changed)
    after_update = await on_hand(realm, item)
    await post(realm, "Invoice", {"Id": invoice["Id"], "SyncToken": invoice["SyncToken"]}, operation="void")
    after_void = await on_hand(realm, item)
    await post(realm, "CreditMemo", {"Id": memo["Id"], "SyncToken": memo["SyncToken"]}, operation="delete")

    assert (after_update, after_void) == (Decimal("7"), Decimal("12"))
    assert await on_hand(realm, item) == Decimal("10")


async def test_an_item_that_does_not_track_quantity_keeps_none(realm: Realm) -> None:
    who = await customer(realm)
    service = (await realm.get("/item/1")).json()["Item"]

    await post(realm, "Invoice", {"CustomerRef": {"value": who}, "Line": [sales_line(service, 2)]})

    assert "QtyOnHand" not in (await realm.get("/item/1")).json()["Item"]
