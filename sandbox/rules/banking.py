"""Money moving through bank and card accounts: Purchase, Deposit, Transfer, CreditCardPayment."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sandbox import faults, money
from sandbox.clock import today
from sandbox.faults import QboError
from sandbox.rules import common, txns
from sandbox.specs import Spec
from sandbox.state import Company

BANK_TYPES = frozenset({"Bank"})
CARD_TYPES = frozenset({"Credit Card"})
# [U] A cash purchase may also be paid from an other current asset (petty cash kept outside a bank).
CASH_TYPES = frozenset({"Bank", "Other Current Asset"})
DEPOSIT_TO_TYPES = frozenset({"Bank", "Other Current Asset"})
# Balance-sheet accounts: money moves between them, never into income or expense.
TRANSFER_TYPES = frozenset(
    {
        "Bank",
        "Other Current Asset",
        "Fixed Asset",
        "Other Asset",
        "Credit Card",
        "Other Current Liability",
        "Long Term Liability",
        "Equity",
    }
)
DEPOSITABLE = frozenset({"Payment", "SalesReceipt"})
ENTITY_TYPES = frozenset({"Vendor", "Customer", "Employee"})
# [U] wording for rules Intuit documents without quoting the message.
ACCOUNT_KIND_TEXT = "The account {name} cannot be used for a {what}; choose an account of type {types}."
CREDIT_ONLY_CARD_TEXT = "Only a credit card purchase can be a credit (Credit = true)."
DEPOSIT_TO_UNDEPOSITED_TEXT = "You can't deposit to Undeposited Funds. Choose a bank account."
NOT_UNDEPOSITED_TEXT = (
    "Transaction {kind} {id} was not received into Undeposited Funds, so it cannot be deposited."
)
ALREADY_DEPOSITED_TEXT = "Transaction {kind} {id} is already part of another deposit."
DEPOSIT_AMOUNT_TEXT = "The deposit line for {kind} {id} must be its full amount ({amount})."
NEGATIVE_TOTAL_TEXT = "The transaction total cannot be negative."
AMOUNT_POSITIVE_TEXT = "You must set a transaction amount."
SAME_ACCOUNT_TEXT = "You can't transfer money to the account it comes from."
DEPOSITED_CODE = "6540"
DEPOSITED_MESSAGE = "Deposited Transaction cannot be changed"


def deposited_error() -> QboError:
    return QboError(
        DEPOSITED_CODE,
        DEPOSITED_MESSAGE,
        f"{DEPOSITED_MESSAGE}: this transaction is part of a deposit. Remove it from the deposit first.",
        "",
    )


def _account(company: Company, obj: dict[str, Any], field: str, allowed: frozenset[str], what: str) -> None:
    account = company.table("Account").get(str((obj.get(field) or {}).get("value")))
    if account is None:
        raise faults.invalid_ref(field)
    if account.get("AccountType") not in allowed:
        text = ACCOUNT_KIND_TEXT.format(
            name=account.get("Name"), what=what, types=" or ".join(sorted(allowed))
        )
        raise faults.business(text, field)


def _dated(company: Company, spec: Spec, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
    for name in ("TotalAmt", "HomeTotalAmt"):
        obj.pop(name, None)
    if not obj.get("TxnDate"):
        obj["TxnDate"] = (old or {}).get("TxnDate") or today(company.tz).isoformat()
    common.validate_common(company, spec, obj)
    common.check_period(company, obj["TxnDate"])
    if old is not None:
        common.check_period(company, old.get("TxnDate"))
    obj.setdefault("CurrencyRef", {"value": company.home_currency})


def _positive(obj: dict[str, Any], field: str) -> Decimal:
    amount = money.parse(obj.get(field), field) or money.ZERO
    if amount <= 0:
        raise faults.business(AMOUNT_POSITIVE_TEXT, field)
    obj[field] = money.q2(amount)
    return amount


def prepare_purchase(
    company: Company, spec: Spec, obj: dict[str, Any], old: dict[str, Any] | None, *, allow_duplicate: bool
) -> None:
    """Expense, check or credit-card charge/credit: expense lines, a paying account of the right kind."""
    txns.prepare(company, spec, obj, old, allow_duplicate=allow_duplicate)
    kind = obj["PaymentType"]
    allowed = CARD_TYPES if kind == "CreditCard" else BANK_TYPES if kind == "Check" else CASH_TYPES
    _account(company, obj, "AccountRef", allowed, f"{kind} purchase")
    if obj.get("Credit") is True and kind != "CreditCard":
        raise faults.business(CREDIT_ONLY_CARD_TEXT, "Credit")
    entity = obj.get("EntityRef")
    if isinstance(entity, dict) and entity.get("value"):
        kind_of = str(entity.get("type") or "Vendor")
        if kind_of not in ENTITY_TYPES:
            raise faults.invalid_enum("EntityRef.type", kind_of)
        common.check_ref(company, kind_of, "EntityRef", entity)
        entity["type"] = kind_of


def prepare_deposit(
    company: Company, spec: Spec, obj: dict[str, Any], old: dict[str, Any] | None
) -> list[tuple[str, str]]:
    """A bank deposit of received payments and other funds; returns the transactions it deposits."""
    _dated(company, spec, obj, old)
    target = company.table("Account").get(str(obj["DepositToAccountRef"].get("value"))) or {}
    if target.get("AccountSubType") == "UndepositedFunds":
        raise faults.business(DEPOSIT_TO_UNDEPOSITED_TEXT, "DepositToAccountRef")
    _account(company, obj, "DepositToAccountRef", DEPOSIT_TO_TYPES, "deposit")
    own = f"Deposit:{(old or {}).get('Id', '')}"
    total, deposited = money.ZERO, []
    for index, line in enumerate(obj.get("Line") or (), start=1):
        amount = money.parse(line.get("Amount"), "Line.Amount")
        if amount is None:
            raise faults.required("Line.Amount")
        line["Amount"] = amount = money.q2(amount)
        links = line.get("LinkedTxn") or []
        for link in links:
            deposited.append(_deposited_link(company, link, amount, own))
        if not links:
            detail = line.get("DepositLineDetail")
            if not isinstance(detail, dict) or common.is_blank(detail.get("AccountRef")):
                raise faults.required("Line.DepositLineDetail.AccountRef")
            line.setdefault("DetailType", "DepositLineDetail")
        line["Id"], line["LineNum"] = str(index), index
        total += amount
    cash_back = obj.get("CashBack")
    if isinstance(cash_back, dict) and cash_back:
        if common.is_blank(cash_back.get("AccountRef")):
            raise faults.required("CashBack.AccountRef")
        cash_back["Amount"] = back = money.q2(
            money.parse(cash_back.get("Amount"), "CashBack.Amount") or money.ZERO
        )
        total -= back
    if total < 0:
        raise faults.business(NEGATIVE_TOTAL_TEXT, "TotalAmt")
    obj["TotalAmt"] = money.q2(total)
    return deposited


def _deposited_link(company: Company, link: dict[str, Any], amount: Decimal, own: str) -> tuple[str, str]:
    kind, txn_id = str(link.get("TxnType")), str(link.get("TxnId"))
    if kind not in DEPOSITABLE:
        raise faults.invalid_enum("Line.LinkedTxn.TxnType", kind)
    target = company.table(kind).get(txn_id)
    if target is None:
        raise faults.invalid_ref("Line.LinkedTxn.TxnId")
    holder = company.deposited.get((kind, txn_id))
    if holder is not None and holder != own:
        raise faults.business(ALREADY_DEPOSITED_TEXT.format(kind=kind, id=txn_id), "Line.LinkedTxn")
    account = company.table("Account").get(str((target.get("DepositToAccountRef") or {}).get("value"))) or {}
    if account.get("AccountSubType") != "UndepositedFunds":
        raise faults.business(NOT_UNDEPOSITED_TEXT.format(kind=kind, id=txn_id), "Line.LinkedTxn")
    full = money.q2(Decimal(str(target.get("TotalAmt", 0))))
    if amount != full:
        raise faults.business(DEPOSIT_AMOUNT_TEXT.format(kind=kind, id=txn_id, amount=full), "Line.Amount")
    return kind, txn_id


def prepare_transfer(company: Company, spec: Spec, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
    """Money between two balance-sheet accounts."""
    _dated(company, spec, obj, old)
    _positive(obj, "Amount")
    if str(obj["FromAccountRef"].get("value")) == str(obj["ToAccountRef"].get("value")):
        raise faults.business(SAME_ACCOUNT_TEXT, "ToAccountRef")
    _account(company, obj, "FromAccountRef", TRANSFER_TYPES, "transfer")
    _account(company, obj, "ToAccountRef", TRANSFER_TYPES, "transfer")


def prepare_card_payment(
    company: Company, spec: Spec, obj: dict[str, Any], old: dict[str, Any] | None
) -> None:
    """Paying down a credit card from a bank account."""
    _dated(company, spec, obj, old)
    _positive(obj, "Amount")
    _account(company, obj, "CreditCardAccountRef", CARD_TYPES, "credit card payment")
    _account(company, obj, "BankAccountRef", BANK_TYPES, "credit card payment")
