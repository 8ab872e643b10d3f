"""What QBO allows per entity: required fields, lengths, references, enums, operations."""

from __future__ import annotations

from collections.abc import Mapping

from sandbox.spec_types import BILLABLE as BILLABLE
from sandbox.spec_types import EXPENSE_LINE_REFS as EXPENSE_LINE_REFS
from sandbox.spec_types import SALES_ENUMS as SALES_ENUMS
from sandbox.spec_types import SALES_LINE_REFS as SALES_LINE_REFS
from sandbox.spec_types import TXN_LENGTHS as TXN_LENGTHS
from sandbox.spec_types import Spec as Spec
from sandbox.spec_types import purchase_spec
from sandbox.specs_more import MORE_SPECS

NAME_LIST_PEOPLE = "people"  # Customer, Vendor and Employee share one DisplayName space (6240)

PERSON_LENGTHS: Mapping[str, int] = {
    "DisplayName": 500,
    "Title": 16,
    "Suffix": 16,
    "GivenName": 100,
    "MiddleName": 100,
    "FamilyName": 100,
    "CompanyName": 100,
    "PrintOnCheckName": 110,
    "Notes": 2000,
    "PrimaryEmailAddr.Address": 100,
    "PrimaryPhone.FreeFormNumber": 30,
    "Mobile.FreeFormNumber": 30,
    "Fax.FreeFormNumber": 30,
    "AlternatePhone.FreeFormNumber": 30,
    "WebAddr.URI": 1000,
    "ResaleNum": 16,
    "AcctNum": 100,
    **{
        f"{a}.{k}": n
        for a in ("BillAddr", "ShipAddr")
        for k, n in (
            ("Line1", 500),
            ("Line2", 500),
            ("Line3", 500),
            ("Line4", 500),
            ("Line5", 500),
            ("City", 255),
            ("CountrySubDivisionCode", 255),
            ("PostalCode", 30),
            ("Country", 255),
        )
    },
}


def _person(name: str, extra_refs: Mapping[str, str]) -> Spec:
    return Spec(
        name,
        "list",
        lengths=PERSON_LENGTHS,
        refs=extra_refs,
        name_field="DisplayName",
        name_space=NAME_LIST_PEOPLE,
        hierarchical=name == "Customer",
        enums={"PreferredDeliveryMethod": frozenset({"Print", "Email", "None", ""})},
    )


def _sales(name: str, *, void: str | None, required: tuple[str, ...], extra_refs: Mapping[str, str]) -> Spec:
    refs = {
        "CustomerRef": "Customer",
        "ClassRef": "Class",
        "DepartmentRef": "Department",
        "SalesTermRef": "Term",
        "PaymentMethodRef": "PaymentMethod",
        "DepositToAccountRef": "Account",
        "TxnTaxDetail.TxnTaxCodeRef": "TaxCode",
        "ProjectRef": "Customer",
        **SALES_LINE_REFS,
        **extra_refs,
    }
    return Spec(
        name,
        "txn",
        required=required,
        lengths=TXN_LENGTHS,
        refs=refs,
        enums=SALES_ENUMS,
        doc_numbers=True,
        unique_doc_number=True,
        deletable=True,
        void=void,
    )


SPECS: dict[str, Spec] = {
    s.name: s
    for s in (
        Spec("CompanyInfo", "singleton", lengths={"CompanyName": 1024, "LegalName": 1024}),
        Spec("Preferences", "singleton"),
        Spec(
            "Account",
            "list",
            lengths={"Name": 100, "AcctNum": 20, "Description": 100},
            refs={"ParentRef": "Account", "TaxCodeRef": "TaxCode"},
            name_field="Name",
            name_space="Account",
            hierarchical=True,
        ),
        Spec("TaxCode", "readonly", name_field="Name", name_space="TaxCode"),
        Spec("TaxRate", "readonly", name_field="Name", name_space="TaxRate"),
        Spec(
            "TaxAgency",
            "list",
            required=("DisplayName",),
            lengths={"DisplayName": 100},
            name_field="DisplayName",
            name_space="TaxAgency",
        ),
        Spec(
            "Term",
            "list",
            required=("Name",),
            lengths={"Name": 31},
            name_field="Name",
            name_space="Term",
            enums={"Type": frozenset({"STANDARD", "DATE_DRIVEN"})},
        ),
        Spec(
            "PaymentMethod",
            "list",
            required=("Name",),
            lengths={"Name": 31},
            name_field="Name",
            name_space="PaymentMethod",
            enums={"Type": frozenset({"CREDIT_CARD", "NON_CREDIT_CARD"})},
        ),
        Spec(
            "Class",
            "list",
            required=("Name",),
            lengths={"Name": 100},
            refs={"ParentRef": "Class"},
            name_field="Name",
            name_space="Class",
            hierarchical=True,
        ),
        Spec(
            "Department",
            "list",
            required=("Name",),
            lengths={"Name": 100},
            refs={"ParentRef": "Department"},
            name_field="Name",
            name_space="Department",
            hierarchical=True,
        ),
        _person(
            "Customer",
            {
                "ParentRef": "Customer",
                "SalesTermRef": "Term",
                "PaymentMethodRef": "PaymentMethod",
                "DefaultTaxCodeRef": "TaxCode",
            },
        ),
        _person("Vendor", {"TermRef": "Term"}),
        _person("Employee", {}),
        Spec(
            "Item",
            "list",
            required=("Name", "Type"),
            lengths={"Name": 100, "Sku": 100, "Description": 4000, "PurchaseDesc": 1000},
            refs={
                "IncomeAccountRef": "Account",
                "ExpenseAccountRef": "Account",
                "AssetAccountRef": "Account",
                "ParentRef": "Item",
                "SalesTaxCodeRef": "TaxCode",
                "PurchaseTaxCodeRef": "TaxCode",
            },
            enums={"Type": frozenset({"Service", "NonInventory", "Inventory", "Category", "Group"})},
            name_field="Name",
            name_space="Item",
            hierarchical=True,
        ),
        _sales("Invoice", void="operation", required=("CustomerRef", "Line"), extra_refs={}),
        _sales("CreditMemo", void="operation", required=("CustomerRef", "Line"), extra_refs={}),
        _sales("SalesReceipt", void="include", required=("Line",), extra_refs={}),
        _sales("RefundReceipt", void="include", required=("Line", "DepositToAccountRef"), extra_refs={}),
        _sales("Estimate", void=None, required=("CustomerRef", "Line"), extra_refs={}),
        Spec(
            "Payment",
            "txn",
            required=("CustomerRef", "TotalAmt"),
            lengths=TXN_LENGTHS,
            refs={
                "CustomerRef": "Customer",
                "DepositToAccountRef": "Account",
                "PaymentMethodRef": "PaymentMethod",
                "ARAccountRef": "Account",
                "ProjectRef": "Customer",
            },
            deletable=True,
            void="include",
        ),
        purchase_spec("Bill", void=None, required=("VendorRef", "Line"), doc_numbers=False),
        purchase_spec("PurchaseOrder", void=None, required=("VendorRef", "Line"), doc_numbers=True),
        Spec(
            "BillPayment",
            "txn",
            required=("VendorRef", "PayType", "TotalAmt", "Line"),
            lengths=TXN_LENGTHS,
            refs={
                "VendorRef": "Vendor",
                "APAccountRef": "Account",
                "CheckPayment.BankAccountRef": "Account",
                "CreditCardPayment.CCAccountRef": "Account",
                "DepartmentRef": "Department",
            },
            enums={"PayType": frozenset({"Check", "CreditCard"})},
            deletable=True,
            void="include",
        ),
        Spec(
            "JournalEntry",
            "txn",
            required=("Line",),
            lengths=TXN_LENGTHS,
            refs={
                "Line.JournalEntryLineDetail.AccountRef": "Account",
                "Line.JournalEntryLineDetail.ClassRef": "Class",
                "Line.JournalEntryLineDetail.DepartmentRef": "Department",
                "Line.JournalEntryLineDetail.TaxCodeRef": "TaxCode",
            },
            enums={
                "Line.JournalEntryLineDetail.PostingType": frozenset({"Debit", "Credit"}),
                "GlobalTaxCalculation": frozenset({"TaxExcluded", "TaxInclusive"}),
            },
            deletable=True,
        ),
        *MORE_SPECS,
    )
}

# Lower-case URL segment -> canonical entity name.
URL_SEGMENTS: dict[str, str] = {name.lower(): name for name in SPECS}
CDC_UNSUPPORTED = frozenset({"TaxCode", "TaxRate", "TaxAgency", "JournalCode", "TimeActivity"})
