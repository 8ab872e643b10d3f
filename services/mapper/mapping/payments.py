"""Customer payments linked to the invoices they pay."""

from __future__ import annotations

from typing import Any

from services.mapper.mapping import lookups, parties
from services.mapper.mapping.base import MapContext, link, match_link
from shared.contracts.internal import ExportRequested
from shared.contracts.platform import AppliedPayment, PaymentRecorded


def _invoice(applied: AppliedPayment, customer: dict[str, Any]) -> dict[str, Any]:
    if applied.invoice_id is not None:
        return link("Invoice", applied.invoice_id, as_id=True)
    assert applied.invoice_number is not None
    # Only an invoice of the paying customer: another customer's invoice with that number is not it.
    return match_link("Invoice", "DocNumber", applied.invoice_number, as_id=True, party=customer)


def payment(ctx: MapContext, data: PaymentRecorded) -> list[ExportRequested]:
    """payment.recorded → a Payment whose lines link each invoice it pays (the rest stays unapplied).

    Summarized journal mode: the invoices are not in QBO, so the payment goes to the master customer,
    unapplied (it settles the receivable the day's journal entry put on that customer).
    """
    if ctx.settings.summarized:
        customer, lines = parties.master_customer(ctx), []
    else:
        customer = parties.customer_by_code(ctx, "$.data.customer", data.customer)
        lines = [
            {"Amount": a.amount, "LinkedTxn": [{"TxnId": _invoice(a, customer), "TxnType": "Invoice"}]}
            for a in data.applied_to
        ]
    payload: dict[str, Any] = {
        "CustomerRef": customer,
        "TotalAmt": data.amount,
        "TxnDate": data.date,
        "PaymentRefNum": data.reference,
        "Line": lines,
        "DepositToAccountRef": lookups.account(ctx, "$.data", "deposit", required=False),
    }
    if data.payment_method:
        payload["PaymentMethodRef"] = lookups.payment_method(
            ctx, "$.data.payment_method", data.payment_method
        )
    payload |= lookups.currency(ctx, "$.data.currency", data.currency, data.exchange_rate)
    ctx.emit(
        entity="Payment",
        operation="create",
        payload=payload,
        platform_id=data.payment_id,
        object_type="payment",
    )
    return ctx.result("the payment cannot be sent to QuickBooks")
