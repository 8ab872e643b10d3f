"""Rules tables of the banking, time, attachment, currency and recurring entities."""

from __future__ import annotations

from sandbox.spec_types import BILLABLE, EXPENSE_LINE_REFS, SALES_ENUMS, TXN_LENGTHS, Spec, purchase_spec

PAYMENT_TYPES = frozenset({"Cash", "Check", "CreditCard"})
PRINT_STATUS = SALES_ENUMS["PrintStatus"]
# [U] Intuit's void list names Purchase and Transfer without the call; they void like a payment.
PURCHASE_VOID_STYLE = "include"
TRANSFER_VOID_STYLE = "include"

MORE_SPECS: tuple[Spec, ...] = (
    Spec(
        "Purchase",
        "txn",
        required=("PaymentType", "AccountRef", "Line"),
        lengths=TXN_LENGTHS,
        refs={
            "AccountRef": "Account",
            "PaymentMethodRef": "PaymentMethod",
            "DepartmentRef": "Department",
            "TxnTaxDetail.TxnTaxCodeRef": "TaxCode",
            **EXPENSE_LINE_REFS,
        },
        enums={
            "PaymentType": PAYMENT_TYPES,
            "PrintStatus": PRINT_STATUS,
            "GlobalTaxCalculation": SALES_ENUMS["GlobalTaxCalculation"],
            "Line.AccountBasedExpenseLineDetail.BillableStatus": BILLABLE,
        },
        deletable=True,
        void=PURCHASE_VOID_STYLE,
    ),
    purchase_spec("VendorCredit", void=None, required=("VendorRef", "Line"), doc_numbers=False),
    Spec(
        "Deposit",
        "txn",
        required=("DepositToAccountRef", "Line"),
        lengths=TXN_LENGTHS,
        refs={
            "DepositToAccountRef": "Account",
            "DepartmentRef": "Department",
            "CashBack.AccountRef": "Account",
            "Line.DepositLineDetail.AccountRef": "Account",
            "Line.DepositLineDetail.ClassRef": "Class",
            "Line.DepositLineDetail.PaymentMethodRef": "PaymentMethod",
        },
        enums={"GlobalTaxCalculation": SALES_ENUMS["GlobalTaxCalculation"]},
        deletable=True,
    ),
    Spec(
        "Transfer",
        "txn",
        required=("FromAccountRef", "ToAccountRef", "Amount"),
        lengths={"PrivateNote": 4000},
        refs={"FromAccountRef": "Account", "ToAccountRef": "Account"},
        deletable=True,
        void=TRANSFER_VOID_STYLE,
    ),
    Spec(
        "CreditCardPayment",
        "txn",
        required=("CreditCardAccountRef", "BankAccountRef", "Amount"),
        lengths={"PrivateNote": 4000, "Memo": 4000, "CheckNum": 21},
        refs={"CreditCardAccountRef": "Account", "BankAccountRef": "Account", "VendorRef": "Vendor"},
        enums={"PrintStatus": PRINT_STATUS},
        deletable=True,
    ),
    Spec(
        "TimeActivity",
        "txn",
        required=("NameOf",),
        lengths={"Description": 4000},
        refs={
            "EmployeeRef": "Employee",
            "VendorRef": "Vendor",
            "CustomerRef": "Customer",
            "ItemRef": "Item",
            "ClassRef": "Class",
            "DepartmentRef": "Department",
        },
        enums={"NameOf": frozenset({"Employee", "Vendor"}), "BillableStatus": BILLABLE},
        deletable=True,
    ),
    Spec(
        "Attachable",
        "attachment",
        lengths={"Note": 2000, "FileName": 1000},
        deletable=True,
    ),
    Spec(
        "CompanyCurrency",
        "list",
        required=("Code",),
        name_field="Code",
        name_space="CompanyCurrency",
    ),
    Spec("ExchangeRate", "rate", creatable=False),
    Spec("RecurringTransaction", "recurring", deletable=True),
)
