"""Bill payments: a Check or CreditCard BillPayment whose lines link the bills it pays."""

from __future__ import annotations

from typing import Any

from services.mapper.mapping import lookups, parties
from services.mapper.mapping.base import MapContext, link, match_link
from shared.contracts.internal import ExportRequested
from shared.contracts.platform import AppliedBillPayment, BillPaymentRecorded

BANK = "Bank"
CREDIT_CARD = "Credit Card"


def _bill(applied: AppliedBillPayment, vendor: dict[str, Any]) -> dict[str, Any]:
    if applied.bill_id is not None:
        return link("Bill", applied.bill_id, as_id=True)
    assert applied.bill_number is not None
    # Only a bill of the paid vendor: another vendor's bill with that number is not it.
    return match_link("Bill", "DocNumber", applied.bill_number, as_id=True, party=vendor)


def _pay_from(ctx: MapContext, name: str) -> dict[str, Any]:
    """PayType and its account block: a Check from a bank account, or a CreditCard charge."""
    ref = lookups.account_named(ctx, "$.data.payment_account", name, allowed=(BANK, CREDIT_CARD))
    if ref is None:
        return {}
    found = ctx.reference.find("Account", name)
    if found is not None and found.data.get("AccountType") == CREDIT_CARD:
        return {"PayType": "CreditCard", "CreditCardPayment": {"CCAccountRef": ref}}
    return {"PayType": "Check", "CheckPayment": {"BankAccountRef": ref}}


def bill_payment(ctx: MapContext, data: BillPaymentRecorded) -> list[ExportRequested]:
    """bill_payment.recorded → the vendor ensured, then a BillPayment linking each bill it pays."""
    vendor = parties.ensure_vendor(ctx, "$.data.vendor", data.vendor)
    lines = [
        {"Amount": a.amount, "LinkedTxn": [{"TxnId": _bill(a, vendor), "TxnType": "Bill"}]}
        for a in data.applied_to
    ]
    payload: dict[str, Any] = {
        "VendorRef": vendor,
        "TotalAmt": data.amount,
        "TxnDate": data.date,
        "DocNumber": data.reference,
        "Line": lines,
        "APAccountRef": lookups.account(ctx, "$.data", "accounts_payable", required=False),
    }
    payload |= _pay_from(ctx, data.payment_account)
    payload |= lookups.currency(ctx, "$.data.currency", data.currency, data.exchange_rate)
    ctx.emit(
        entity="BillPayment",
        operation="create",
        payload=payload,
        platform_id=data.bill_payment_id,
        object_type="bill_payment",
    )
    return ctx.result("the bill payment cannot be sent to QuickBooks")
