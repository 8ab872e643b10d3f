"""The shape of an entity's rules (`Spec`) and the rule tables transactions share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

TXN_LENGTHS: Mapping[str, int] = {
    "DocNumber": 21,
    "PrivateNote": 4000,
    "CustomerMemo.value": 1000,
    "BillEmail.Address": 100,
    "PaymentRefNum": 100,
    "Memo": 4000,
}
SALES_LINE_REFS: Mapping[str, str] = {
    "Line.SalesItemLineDetail.ItemRef": "Item",
    "Line.SalesItemLineDetail.ClassRef": "Class",
    "Line.DiscountLineDetail.DiscountAccountRef": "Account",
    "Line.DiscountLineDetail.ClassRef": "Class",
}
EXPENSE_LINE_REFS: Mapping[str, str] = {
    "Line.AccountBasedExpenseLineDetail.AccountRef": "Account",
    "Line.AccountBasedExpenseLineDetail.CustomerRef": "Customer",
    "Line.AccountBasedExpenseLineDetail.ClassRef": "Class",
    "Line.ItemBasedExpenseLineDetail.ItemRef": "Item",
    "Line.ItemBasedExpenseLineDetail.CustomerRef": "Customer",
    "Line.ItemBasedExpenseLineDetail.ClassRef": "Class",
}
SALES_ENUMS: Mapping[str, frozenset[str]] = {
    "PrintStatus": frozenset({"NotSet", "NeedToPrint", "PrintComplete"}),
    "EmailStatus": frozenset({"NotSet", "NeedToSend", "EmailSent"}),
    "GlobalTaxCalculation": frozenset({"TaxExcluded", "TaxInclusive", "NotApplicable"}),
}
BILLABLE = frozenset({"Billable", "NotBillable", "HasBeenBilled"})


@dataclass(frozen=True)
class Spec:
    name: str
    kind: str  # "list" | "txn" | "singleton" | "readonly"
    required: tuple[str, ...] = ()
    lengths: Mapping[str, int] = field(default_factory=dict)
    refs: Mapping[str, str] = field(default_factory=dict)
    enums: Mapping[str, frozenset[str]] = field(default_factory=dict)
    name_field: str | None = None
    name_space: str | None = None
    doc_numbers: bool = False  # auto-numbered sales-form style DocNumber
    unique_doc_number: bool = False
    deletable: bool = False
    void: str | None = None  # "operation" (operation=void) | "include" (operation=update&include=void)
    creatable: bool = True
    updatable: bool = True
    hierarchical: bool = False


def purchase_spec(name: str, *, void: str | None, required: tuple[str, ...], doc_numbers: bool) -> Spec:
    refs = {
        "VendorRef": "Vendor",
        "APAccountRef": "Account",
        "SalesTermRef": "Term",
        "DepartmentRef": "Department",
        "ClassRef": "Class",
        **EXPENSE_LINE_REFS,
    }
    enums = {
        "GlobalTaxCalculation": SALES_ENUMS["GlobalTaxCalculation"],
        "POStatus": frozenset({"Open", "Closed"}),
        "Line.AccountBasedExpenseLineDetail.BillableStatus": BILLABLE,
    }
    return Spec(
        name,
        "txn",
        required=required,
        lengths=TXN_LENGTHS,
        refs=refs,
        enums=enums,
        doc_numbers=doc_numbers,
        unique_doc_number=doc_numbers,
        deletable=True,
        void=void,
    )
