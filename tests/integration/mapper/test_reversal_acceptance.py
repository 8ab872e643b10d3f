"""Every reversal's golden payload is accepted by the sandbox and has QBO's effect (US and GB)."""

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
from tests.integration.mapper.test_sandbox_acceptance import profile, sandbox_settings
from tests.unit.mapper import companies as c
from tests.unit.mapper.events import golden_events

pytestmark = pytest.mark.integration

# (name, event type): what each reversal needs written first, then the reversals themselves.
ORDER = (
    ("customer", "customer.upserted"),
    ("vendor", "vendor.upserted"),
    ("item", "item.upserted"),
    ("invoice", "invoice.approved"),
    ("credit_note", "credit_note.issued"),
    ("credit_note_changed", "credit_note.updated"),
    ("payment", "payment.recorded"),
    ("payment_void", "payment.voided"),
    ("refund", "refund.issued"),
    ("refund_void", "refund.voided"),
    ("bill", "bill.approved"),
    ("second_bill", "bill.approved"),
    ("bills_paid", "bill_payment.recorded"),
    ("item_off", "item.deactivated"),
    ("customer_off", "customer.deactivated"),
    ("vendor_off", "vendor.deactivated"),
)


@pytest.fixture
async def sandbox(sandbox_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=10) as client:
        yield client


def _events(country: str) -> dict[str, dict[str, Any]]:
    golden = golden_events(country)
    by_name = {name: golden[kind] for name, kind in ORDER if kind in golden}
    by_name["credit_note_changed"] = golden["credit_note.updated"]
    by_name["second_bill"] = c.purchase("bill", country, bill_id="bill_2", number="B-12")
    return by_name


async def _run_all(sandbox: httpx.AsyncClient, country: str) -> SandboxWriter:
    realm, token = await sandbox_company(sandbox, country=country, custom_txn_numbers=True, seed="sample")
    writer = SandboxWriter(sandbox, realm, token)
    events = _events(country)
    target = Target("conn-reversals", realm, profile(country))
    for name, kind in ORDER:
        data = CATALOGUE[kind].model.model_validate(events[name])
        commands = service.plan(
            kind,
            data,
            target=target,
            settings=sandbox_settings(country),
            reference=await mirror_of(sandbox, realm),
            source_event_id=f"evt-{name}",
        )
        for command in commands:
            await writer.apply(command)
    return writer


@pytest.mark.parametrize("country", ["US", "GB"])
async def test_every_reversal_is_accepted_by_the_sandbox_with_its_effect(
    sandbox: httpx.AsyncClient, country: str
) -> None:
    writer = await _run_all(sandbox, country)

    async def read(entity: str, platform_id: str) -> dict[str, Any]:
        return await writer.read(entity, writer.ids[(entity, platform_id)])

    payment = await read("Payment", "pay_1")
    refund = await read("RefundReceipt", "ref_1")
    credit = await read("CreditMemo", "cn_1")
    bill_payment = await read("BillPayment", "bp_1")
    assert Decimal(str(payment["TotalAmt"])) == 0
    assert Decimal(str(refund["TotalAmt"])) == 0
    assert credit["PrivateNote"] == "corrected"
    assert credit["Line"][0]["Description"] == "Design work (corrected)"
    assert bill_payment["PayType"] == "Check"
    assert [Decimal(str(ln["Amount"])) for ln in bill_payment["Line"]] == [Decimal(30), Decimal(20)]
    for entity, platform_id in (("Item", "itm_1"), ("Customer", "cus_1"), ("Vendor", "ven_1")):
        assert (await read(entity, platform_id))["Active"] is False


async def test_bill_payment_by_number_pays_the_vendors_bill(sandbox: httpx.AsyncClient) -> None:
    writer = await _run_all(sandbox, "US")

    second_bill = await writer.read("Bill", writer.ids[("Bill", "bill_2")])
    first_bill = await writer.read("Bill", writer.ids[("Bill", "bill_1")])

    total = Decimal(str(second_bill["TotalAmt"]))
    assert Decimal(str(second_bill["Balance"])) == total - 20
    assert Decimal(str(first_bill["Balance"])) == Decimal(str(first_bill["TotalAmt"])) - 30
