"""Invoices, credit memos and refund receipts."""

from __future__ import annotations

from typing import Any

from services.mapper.mapping import lookups, parties, totals
from services.mapper.mapping.base import ZERO, MapContext, document_match, link, match_link
from services.mapper.mapping.lines import TaxCollector, header_ref, sales_line
from services.mapper.reference import RefEntity
from shared.contracts.internal import ExportRequested, Match
from shared.contracts.platform import (
    CreditNoteIssued,
    CreditNoteUpdated,
    CreditNoteVoided,
    InvoiceApproved,
    InvoiceUpdated,
    InvoiceVoided,
    RefundIssued,
    SalesDocument,
)

# [U] QBO's API voids invoices; credit memos list Void among webhook operations only, so this is
# the one place to change if the exporter must delete them instead.
CREDIT_MEMO_VOID = "void"


def _project(ctx: MapContext, doc: SalesDocument, display_name: str) -> RefEntity | None:
    assert doc.project is not None
    full = f"{display_name}:{doc.project}".casefold()
    for c in ctx.reference.all("Customer"):
        if str(c.data.get("FullyQualifiedName", "")).casefold() == full:
            return c
    for c in ctx.reference.all("Customer"):
        is_sub = c.data.get("IsProject") or c.data.get("Job")
        if is_sub and c.name.casefold() == doc.project.casefold():
            return c
    ctx.problem(
        "$.data.project",
        f"project '{doc.project}' of customer '{display_name}' is not in QBO",
        "create the project in QBO under that customer, or leave project out",
    )
    return None


def _customer_ref(ctx: MapContext, doc: SalesDocument) -> dict[str, Any] | None:
    if doc.project:
        project = _project(ctx, doc, parties.customer_display_name(ctx, doc.customer))
        return project.ref() if project else None
    return parties.ensure_customer(ctx, "$.data.customer", doc.customer)


def doc_number(ctx: MapContext, number: str | None) -> str | None:
    """The DocNumber to send; keeping platform numbers needs QBO's custom transaction numbers on."""
    if number is None or not ctx.settings.keep_platform_numbers:
        return None
    if not ctx.target.company.custom_txn_numbers:
        ctx.problem(
            "$.data.number",
            "the platform's document number must be kept, but the QBO company numbers documents itself",
            "turn on Custom transaction numbers in QBO (Account and settings > Sales), or set "
            "keep_platform_numbers to false",
        )
        return None
    return number


def sales_payload(ctx: MapContext, doc: SalesDocument) -> dict[str, Any]:
    """The QBO body shared by invoices and credit memos."""
    taxes = TaxCollector()
    lines = [
        sales_line(ctx, f"$.data.lines[{i}]", line, inclusive=doc.tax_inclusive, taxes=taxes)
        for i, line in enumerate(doc.lines)
    ]
    company = ctx.target.company
    payload: dict[str, Any] = {
        "CustomerRef": _customer_ref(ctx, doc),
        "DocNumber": doc_number(ctx, doc.number),
        "TxnDate": doc.issue_date,
        "DueDate": doc.due_date,
        "PrivateNote": doc.memo,
        "Line": lines,
        "ClassRef": header_ref(
            ctx,
            "$.data.lines",
            "Class",
            [ln.class_ for ln in doc.lines],
            tracked=company.class_tracking == "per_transaction",
            enabled=ctx.settings.classes.enabled,
        ),
        "DepartmentRef": header_ref(
            ctx,
            "$.data.lines",
            "Department",
            [ln.location for ln in doc.lines],
            tracked=company.department_tracking,
            enabled=ctx.settings.locations.enabled,
        ),
    }
    if doc.payment_terms_days is not None:
        payload["SalesTermRef"] = lookups.term(ctx, "$.data.payment_terms_days", doc.payment_terms_days)
    payload |= lookups.currency(ctx, "$.data.currency", doc.currency, doc.exchange_rate)
    if ctx.target.us:
        payload["TxnTaxDetail"] = taxes.us_txn_detail(ctx, "$.data.lines")
    else:
        payload["GlobalTaxCalculation"] = "TaxInclusive" if doc.tax_inclusive else "TaxExcluded"
    return payload


def _no_negative_total(ctx: MapContext, doc: SalesDocument, what: str) -> None:
    total = sum((ln.amount for ln in doc.lines), ZERO)
    if total < ZERO:
        ctx.problem(
            "$.data.lines",
            f"the {what} totals {total}; QBO refuses a negative total",
            "send a credit note for money owed to the customer",
        )


def _match(ctx: MapContext, payload: dict[str, Any]) -> Match | None:
    """The number a sales document may be adopted by: only a kept platform number, only the same
    customer's document, and (when not ours) only with the same total."""
    if ctx.issues:
        return None
    total = totals.document_total(ctx.reference, payload, us=ctx.target.us, purchase=False)
    return document_match(
        payload.get("DocNumber"), party=payload["CustomerRef"], total=total, party_field="CustomerRef"
    )


def invoice(ctx: MapContext, data: InvoiceApproved, *, operation: str) -> list[ExportRequested]:
    """invoice.approved / invoice.updated → the customer (and new items) ensured, then the Invoice."""
    _no_negative_total(ctx, data, "invoice")
    payload = sales_payload(ctx, data)
    ctx.emit(
        entity="Invoice",
        operation=operation,
        payload=payload,
        platform_id=data.invoice_id,
        object_type="invoice",
        match=_match(ctx, payload),
    )
    return ctx.result("the invoice cannot be sent to QuickBooks")


def invoice_updated(ctx: MapContext, data: InvoiceUpdated) -> list[ExportRequested]:
    return invoice(ctx, data, operation="update")


def invoice_voided(ctx: MapContext, data: InvoiceVoided) -> list[ExportRequested]:
    ctx.emit(
        entity="Invoice",
        operation="void",
        payload={},
        platform_id=data.invoice_id,
        object_type="invoice",
    )
    return ctx.result("the invoice void cannot be sent")


def credit_note(
    ctx: MapContext, data: CreditNoteIssued, *, operation: str = "create"
) -> list[ExportRequested]:
    """credit_note.issued / .updated → the CreditMemo, then (if it names an invoice) a zero payment
    applying it."""
    _no_negative_total(ctx, data, "credit note")
    payload = sales_payload(ctx, data)
    ctx.emit(
        entity="CreditMemo",
        operation=operation,
        payload=payload,
        platform_id=data.credit_note_id,
        object_type="credit_note",
        match=_match(ctx, payload),
    )
    if data.applies_to_invoice_number and not ctx.issues:
        _apply_credit(ctx, data, payload)
    return ctx.result("the credit note cannot be sent to QuickBooks")


def credit_note_updated(ctx: MapContext, data: CreditNoteUpdated) -> list[ExportRequested]:
    # The application is sent as a create: the exporter turns it into an update of the one it
    # wrote before (new amount), or writes it if the credit note was never applied.
    return credit_note(ctx, data, operation="update")


def _apply_credit(ctx: MapContext, data: CreditNoteIssued, payload: dict[str, Any]) -> None:
    # QBO links a credit memo to an invoice with a Payment of 0 whose lines name both (§8.7).
    assert data.applies_to_invoice_number is not None
    amount = totals.document_total(ctx.reference, payload, us=ctx.target.us, purchase=False)
    invoice_ref = match_link(
        "Invoice", "DocNumber", data.applies_to_invoice_number, as_id=True, party=payload["CustomerRef"]
    )
    body = {
        "CustomerRef": payload["CustomerRef"],
        "TotalAmt": ZERO,
        "TxnDate": data.issue_date,
        "Line": [
            {"Amount": amount, "LinkedTxn": [{"TxnId": invoice_ref, "TxnType": "Invoice"}]},
            {
                "Amount": amount,
                "LinkedTxn": [
                    {"TxnId": link("CreditMemo", data.credit_note_id, as_id=True), "TxnType": "CreditMemo"}
                ],
            },
        ],
    } | {k: payload[k] for k in ("CurrencyRef", "ExchangeRate") if k in payload}
    ctx.emit(
        entity="Payment",
        operation="create",
        payload=body,
        platform_id=f"{data.credit_note_id}:applied",
        object_type="credit_note_application",
    )


def credit_note_voided(ctx: MapContext, data: CreditNoteVoided) -> list[ExportRequested]:
    """credit_note.voided → its application to an invoice removed (if any was made), then the void."""
    # QBO refuses to void a credit memo with payments applied (6000); deleting an application that
    # was never written is a no-op for the exporter (no entity link).
    ctx.emit(
        entity="Payment",
        operation="delete",
        payload={},
        platform_id=f"{data.credit_note_id}:applied",
        object_type="credit_note_application",
        if_absent="skip",
    )
    ctx.emit(
        entity="CreditMemo",
        operation=CREDIT_MEMO_VOID,
        payload={},
        platform_id=data.credit_note_id,
        object_type="credit_note",
        after=[{"entity": "Payment", "platform_id": f"{data.credit_note_id}:applied"}],
    )
    return ctx.result("the credit note void cannot be sent")


def refund(ctx: MapContext, data: RefundIssued) -> list[ExportRequested]:
    """refund.issued → a RefundReceipt paid from the refund account.

    Summarized journal mode: to the master customer, like payments (the real customer is not in QBO).
    """
    taxes = TaxCollector()
    lines = [
        sales_line(ctx, f"$.data.lines[{i}]", ln, inclusive=False, taxes=taxes)
        for i, ln in enumerate(data.lines)
    ]
    payload: dict[str, Any] = {
        "CustomerRef": (
            parties.master_customer(ctx)
            if ctx.settings.summarized
            else parties.customer_by_code(ctx, "$.data.customer", data.customer)
        ),
        "TxnDate": data.date,
        "Line": lines,
        "DepositToAccountRef": lookups.account(ctx, "$.data", "refund_from", required=True),
    }
    if data.payment_method:
        payload["PaymentMethodRef"] = lookups.payment_method(
            ctx, "$.data.payment_method", data.payment_method
        )
    payload |= lookups.currency(ctx, "$.data.currency", data.currency, data.exchange_rate)
    if ctx.target.us:
        payload["TxnTaxDetail"] = taxes.us_txn_detail(ctx, "$.data.lines")
    else:
        payload["GlobalTaxCalculation"] = "TaxExcluded"
    if not ctx.issues:
        total = totals.document_total(ctx.reference, payload, us=ctx.target.us, purchase=False)
        if total != data.amount:
            ctx.problem(
                "$.data.amount",
                f"the refund amount is {data.amount} but its lines come to {total} in QBO",
                "send lines whose amounts (plus tax) add up to the refund amount",
            )
    ctx.emit(
        entity="RefundReceipt",
        operation="create",
        payload=payload,
        platform_id=data.refund_id,
        object_type="refund",
    )
    return ctx.result("the refund cannot be sent to QuickBooks")
