"""Platform → bridge events: what billing, procurement and project platforms publish."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, model_validator

from shared.contracts.common import (
    Contract,
    Currency,
    Id,
    IsoDate,
    Money,
    NonNegativeMoney,
    Price,
    Quantity,
    Text,
)


class Address(Contract):
    line1: str | None = Field(default=None, max_length=500)
    line2: str | None = Field(default=None, max_length=500)
    city: str | None = Field(default=None, max_length=255)
    region: str | None = Field(default=None, max_length=255)
    postal_code: str | None = Field(default=None, max_length=30)
    country: str | None = Field(default=None, max_length=255)


class CustomerData(Contract):
    """``customer.upserted`` data; also the customer embedded in invoices and credit notes."""

    customer_id: Id | None = None
    code: str = Field(min_length=1, max_length=500, description="Becomes the QBO DisplayName")
    name: str | None = Field(default=None, max_length=500)
    company_name: str | None = Field(default=None, max_length=100)
    email: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=30)
    billing_address: Address | None = None
    currency: Currency | None = None
    payment_terms_days: int | None = Field(default=None, ge=0, le=999)
    payment_method: str | None = Field(default=None, max_length=100)
    is_supplier: bool = False


class CustomerUpserted(CustomerData):
    customer_id: Id


class CustomerRef(Contract):
    """A customer named by its code only (payments, refunds)."""

    code: str = Field(min_length=1, max_length=500)


class VendorData(Contract):
    vendor_id: Id | None = None
    name: str = Field(min_length=1, max_length=500)
    address: Address | None = None
    phone: str | None = Field(default=None, max_length=30)
    email: str | None = Field(default=None, max_length=100)
    account_number: str | None = Field(default=None, max_length=100)
    currency: Currency | None = None
    is_customer: bool = False


class VendorUpserted(VendorData):
    vendor_id: Id


class ItemUpserted(Contract):
    item_id: Id
    code: str = Field(min_length=1, max_length=100, description="Becomes the QBO Item Name")
    name: str | None = Field(default=None, max_length=100)
    type: Literal["service", "non_inventory", "inventory"] = "service"
    description: Text | None = None
    unit_price: Price | None = None
    income_account: str | None = Field(default=None, max_length=100)
    expense_account: str | None = Field(
        default=None, max_length=100, description="For an inventory item: its cost of goods sold account"
    )
    purchase_cost: Price | None = None
    # Inventory only: the opening stock, sent when the item is created (QBO moves it afterwards).
    quantity_on_hand: Quantity | None = Field(
        default=None, ge=0, description="Inventory: opening quantity on hand (on creation only)"
    )
    inventory_start_date: IsoDate | None = Field(
        default=None, description="Inventory: the date the quantity on hand is as of (on creation only)"
    )
    asset_account: str | None = Field(
        default=None, max_length=100, description="Inventory: the inventory asset account"
    )


class SalesLine(Contract):
    description: Text | None = None
    item_code: str | None = Field(default=None, max_length=100)
    quantity: Quantity | None = Field(default=None, ge=0)
    unit_price: Price | None = None
    amount: Money
    discount: NonNegativeMoney | None = None
    tax_rate: str | None = Field(default=None, max_length=100)
    class_: str | None = Field(default=None, alias="class", max_length=100)
    location: str | None = Field(default=None, max_length=100)


class SalesDocument(Contract):
    """Shared shape of invoices and credit notes."""

    number: str | None = Field(default=None, min_length=1, max_length=21)
    issue_date: IsoDate
    due_date: IsoDate | None = None
    payment_terms_days: int | None = Field(default=None, ge=0, le=999)
    currency: Currency | None = None
    exchange_rate: Price | None = Field(default=None, gt=0)
    customer: CustomerData
    lines: list[SalesLine] = Field(min_length=1, max_length=750)
    tax_inclusive: bool = False
    memo: Text | None = None
    project: str | None = Field(default=None, max_length=100)

    @model_validator(mode="after")
    def _due_after_issue(self) -> SalesDocument:
        if self.due_date is not None and self.due_date < self.issue_date:
            raise ValueError("due_date is before issue_date; send a due_date on or after the issue_date")
        return self


class InvoiceApproved(SalesDocument):
    invoice_id: Id


class InvoiceUpdated(InvoiceApproved):
    pass


class InvoiceVoided(Contract):
    invoice_id: Id
    number: str | None = Field(default=None, max_length=21)


class CreditNoteIssued(SalesDocument):
    credit_note_id: Id
    applies_to_invoice_number: str | None = Field(default=None, max_length=21)


class CreditNoteUpdated(CreditNoteIssued):
    pass


class CreditNoteVoided(Contract):
    credit_note_id: Id
    number: str | None = Field(default=None, max_length=21)


class AppliedPayment(Contract):
    """One invoice a payment pays: one the bridge wrote (``invoice_id``), or any invoice of the
    payment's customer in QBO by its number (``invoice_number``, e.g. one from before the connection)."""

    invoice_id: Id | None = None
    invoice_number: str | None = Field(default=None, min_length=1, max_length=21)
    amount: NonNegativeMoney

    @model_validator(mode="after")
    def _one_invoice(self) -> AppliedPayment:
        if (self.invoice_id is None) == (self.invoice_number is None):
            raise ValueError("name the invoice by invoice_id or by invoice_number (one of them)")
        return self


class PaymentRecorded(Contract):
    payment_id: Id
    date: IsoDate
    amount: NonNegativeMoney
    currency: Currency | None = None
    exchange_rate: Price | None = Field(
        default=None, gt=0, description="Home-currency units per unit of `currency` (QBO's ExchangeRate)"
    )
    customer: CustomerRef
    payment_method: str | None = Field(default=None, max_length=100)
    reference: str | None = Field(default=None, max_length=21)
    applied_to: list[AppliedPayment] = Field(default_factory=list)

    @model_validator(mode="after")
    def _applied_within_amount(self) -> PaymentRecorded:
        applied = sum((a.amount for a in self.applied_to), Decimal(0))
        if applied > self.amount:
            raise ValueError(f"applied_to totals {applied}, more than the payment amount {self.amount}")
        return self


class RefundIssued(Contract):
    refund_id: Id
    date: IsoDate
    amount: NonNegativeMoney
    currency: Currency | None = None
    exchange_rate: Price | None = Field(
        default=None, gt=0, description="Home-currency units per unit of `currency` (QBO's ExchangeRate)"
    )
    customer: CustomerRef
    payment_method: str | None = Field(default=None, max_length=100)
    lines: list[SalesLine] = Field(min_length=1, max_length=750)


class PaymentVoided(Contract):
    payment_id: Id


class RefundVoided(Contract):
    refund_id: Id


class CustomerDeactivated(Contract):
    customer_id: Id


class VendorDeactivated(Contract):
    vendor_id: Id


class ItemDeactivated(Contract):
    item_id: Id


class PurchaseLine(Contract):
    description: Text | None = None
    item_code: str | None = Field(default=None, max_length=100)
    account: str | None = Field(default=None, max_length=100)
    quantity: Quantity | None = Field(default=None, ge=0)
    unit_price: Price | None = None
    amount: Money
    tax_rate: str | None = Field(default=None, max_length=100)
    class_: str | None = Field(default=None, alias="class", max_length=100)
    customer: str | None = Field(default=None, max_length=500)


class PurchaseDocument(Contract):
    number: str | None = Field(default=None, min_length=1, max_length=21)
    vendor: VendorData
    issue_date: IsoDate
    due_date: IsoDate | None = None
    currency: Currency | None = None
    exchange_rate: Price | None = Field(default=None, gt=0)
    location: str | None = Field(
        default=None, max_length=100, description="QBO location (Department) of the whole document"
    )
    lines: list[PurchaseLine] = Field(min_length=1, max_length=750)
    tax_inclusive: bool = False
    memo: Text | None = None


class BillApproved(PurchaseDocument):
    bill_id: Id


class BillUpdated(BillApproved):
    pass


class BillCancelled(Contract):
    bill_id: Id
    number: str | None = Field(default=None, max_length=21)


class PurchaseOrderApproved(PurchaseDocument):
    purchase_order_id: Id


class PurchaseOrderUpdated(PurchaseOrderApproved):
    pass


class PurchaseOrderCancelled(Contract):
    purchase_order_id: Id
    number: str | None = Field(default=None, max_length=21)


class AppliedBillPayment(Contract):
    """One bill a bill payment pays: one the bridge wrote (``bill_id``), or any bill of the
    payment's vendor in QBO by its number (``bill_number``)."""

    bill_id: Id | None = None
    bill_number: str | None = Field(default=None, min_length=1, max_length=21)
    amount: NonNegativeMoney

    @model_validator(mode="after")
    def _one_bill(self) -> AppliedBillPayment:
        if (self.bill_id is None) == (self.bill_number is None):
            raise ValueError("name the bill by bill_id or by bill_number (one of them)")
        return self


class BillPaymentRecorded(Contract):
    bill_payment_id: Id
    date: IsoDate
    amount: NonNegativeMoney
    currency: Currency | None = None
    exchange_rate: Price | None = Field(
        default=None, gt=0, description="Home-currency units per unit of `currency` (QBO's ExchangeRate)"
    )
    vendor: VendorData
    payment_account: str = Field(
        min_length=1, max_length=100, description="QBO bank or credit card account the bills are paid from"
    )
    reference: str | None = Field(default=None, max_length=21)
    applied_to: list[AppliedBillPayment] = Field(min_length=1)

    @model_validator(mode="after")
    def _applied_within_amount(self) -> BillPaymentRecorded:
        applied = sum((a.amount for a in self.applied_to), Decimal(0))
        if applied > self.amount:
            raise ValueError(f"applied_to totals {applied}, more than the payment amount {self.amount}")
        return self
