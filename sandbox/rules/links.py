"""Payments, bill payments and journal entries: linked balances and balancing rules."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sandbox import faults, money, tax
from sandbox.clock import today
from sandbox.rules import common, txns
from sandbox.specs import Spec
from sandbox.state import Company

# Which linked transaction types a payment reduces, and in which direction.
PAYMENT_TARGETS = {"Invoice": Decimal(1), "CreditMemo": Decimal(-1)}
BILL_PAYMENT_TARGETS = {"Bill": Decimal(1), "VendorCredit": Decimal(-1)}
# [U] wording for rules Intuit documents without quoting the message.
OVERPAID_TEXT = "The payment amount applied to {kind} {id} is more than its open balance."
APPLIED_EXCEEDS_TEXT = "The amount applied to transactions is more than the payment's total amount."
OTHER_PARTY_TEXT = "The transaction {id} belongs to a different customer or vendor."
JE_UNBALANCED_TEXT = "Journal Entry must have equal debits and credits. Debits: {debit}, Credits: {credit}."
JE_AR_TEXT = "When you use Accounts Receivable, you must choose a customer in the Name field."
JE_AP_TEXT = "When you use Accounts Payable, you must select a vendor in the Name field."
NEGATIVE_TEXT = "Payment amount cannot be negative."

Plan = list[tuple[str, str, Decimal]]


def prepare_payment(company: Company, spec: Spec, obj: dict[str, Any], old: dict[str, Any] | None) -> Plan:
    """Validate a Payment or BillPayment; return (entity, id, amount) applications to commit."""
    for name in ("UnappliedAmt", "LinkedTxn"):
        obj.pop(name, None)
    if not obj.get("TxnDate"):
        obj["TxnDate"] = (old or {}).get("TxnDate") or today(company.tz).isoformat()
    common.validate_common(company, spec, obj)
    common.check_period(company, obj["TxnDate"])
    total = money.parse(obj.get("TotalAmt"), "TotalAmt") or money.ZERO
    if total < 0:
        raise faults.business(NEGATIVE_TEXT, "TotalAmt")
    obj["TotalAmt"] = money.q2(total)
    targets = PAYMENT_TARGETS if spec.name == "Payment" else BILL_PAYMENT_TARGETS
    party = "CustomerRef" if spec.name == "Payment" else "VendorRef"
    plan = _plan(company, obj, old, targets=targets, party=party, payer=spec.name)
    applied = sum((amount * targets[kind] for kind, _, amount in plan), money.ZERO)
    if applied > total:
        raise faults.business(APPLIED_EXCEEDS_TEXT, "TotalAmt")
    obj["UnappliedAmt"] = money.q2(total - applied)
    if spec.name == "Payment" and common.is_blank(obj.get("DepositToAccountRef")):
        undeposited = _account_by_subtype(company, "UndepositedFunds")
        if undeposited:
            obj["DepositToAccountRef"] = {"value": undeposited}
    # [U] Payments carry CurrencyRef and ExchangeRate like the forms they pay, without a HomeTotalAmt.
    txns.currency(company, obj, old, home_total=False)
    return plan


def _plan(
    company: Company,
    obj: dict[str, Any],
    old: dict[str, Any] | None,
    *,
    targets: dict[str, Decimal],
    party: str,
    payer: str,
) -> Plan:
    payer_key = f"{payer}:{(old or {}).get('Id', '')}"
    plan: Plan = []
    party_id = str((obj.get(party) or {}).get("value"))
    for index, line in enumerate(obj.get("Line") or (), start=1):
        amount = money.q2(money.parse(line.get("Amount"), "Line.Amount") or money.ZERO)
        line["Amount"] = amount
        for link in line.get("LinkedTxn") or ():
            kind, txn_id = str(link.get("TxnType")), str(link.get("TxnId"))
            if kind not in targets:
                continue
            target = company.table(kind).get(txn_id)
            if target is None:
                raise faults.invalid_ref("Line.LinkedTxn.TxnId")
            if str((target.get(party) or {}).get("value")) != party_id:
                raise faults.business(OTHER_PARTY_TEXT.format(id=txn_id), "Line.LinkedTxn")
            already = (
                company.applied.get((kind, txn_id), {}).get(payer_key, money.ZERO) if old else money.ZERO
            )
            if amount > Decimal(str(target.get("Balance", 0))) + already:
                raise faults.business(OVERPAID_TEXT.format(kind=kind, id=txn_id), "Line.Amount")
            plan.append((kind, txn_id, amount))
        line.setdefault("LineNum", index)
    return plan


def _account_by_subtype(company: Company, subtype: str) -> str | None:
    for account in company.table("Account").values():
        if account.get("AccountSubType") == subtype and account.get("Active", True):
            return str(account["Id"])
    return None


def prepare_journal(company: Company, spec: Spec, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
    """Outside the US a tax-coded line's TaxAmount posts to the tax agency's account on the line's own
    side, so the entry balances with it (debits + their tax = credits + their tax) and a line of
    its own to that account would count the tax twice."""
    obj.pop("TotalAmt", None)
    if not obj.get("TxnDate"):
        obj["TxnDate"] = (old or {}).get("TxnDate") or today(company.tz).isoformat()
    common.validate_common(company, spec, obj)
    common.check_period(company, obj["TxnDate"])
    sides = {"Debit": money.ZERO, "Credit": money.ZERO}
    taxed: list[tuple[Decimal, dict[str, Any]]] = []
    for index, line in enumerate(obj.get("Line") or (), start=1):
        detail = line.get("JournalEntryLineDetail")
        if not isinstance(detail, dict):
            raise faults.required("Line.JournalEntryLineDetail")
        for name in ("PostingType", "AccountRef"):
            if common.is_blank(detail.get(name)):
                raise faults.required(f"Line.JournalEntryLineDetail.{name}")
        amount = line["Amount"] = money.q2(money.parse(line.get("Amount"), "Line.Amount") or money.ZERO)
        _check_je_party(company, detail)
        side = "Debit" if detail["PostingType"] == "Debit" else "Credit"
        sides[side] += amount
        if _check_je_tax(company, obj, detail):
            sides[side] += detail["TaxAmount"]
            taxed.append((amount, detail))
        line["Id"], line["LineNum"] = str(index), index
    if company.country != "US":
        # Tax lines the client sent are kept; what they add beyond the lines' tax unbalances the entry.
        sides["Credit"] += tax.journal_tax(company, obj, old, taxed)
    debit, credit = sides["Debit"], sides["Credit"]
    if debit != credit or debit == 0:
        raise faults.business(JE_UNBALANCED_TEXT.format(debit=debit, credit=credit))
    obj["TotalAmt"] = money.ZERO
    obj.setdefault("CurrencyRef", {"value": company.home_currency})


def _check_je_tax(company: Company, obj: dict[str, Any], detail: dict[str, Any]) -> bool:
    """Outside the US a line with a tax code must say what the tax applies on and how much it is (and,
    in an AU tax-inclusive entry, its tax-inclusive amount); True when the line carries tax."""
    if company.country == "US" or common.is_blank(detail.get("TaxCodeRef")):
        return False
    needed = ["TaxApplicableOn", "TaxAmount"]
    if company.country == "AU" and obj.get("GlobalTaxCalculation") == "TaxInclusive":
        needed.append("TaxInclusiveAmt")
    for name in needed:
        if common.is_blank(detail.get(name)):
            raise faults.required(f"Line.JournalEntryLineDetail.{name}")
    if detail["TaxApplicableOn"] not in ("Sales", "Purchase"):
        raise faults.invalid_enum(
            "Line.JournalEntryLineDetail.TaxApplicableOn", str(detail["TaxApplicableOn"])
        )
    detail["TaxAmount"] = money.q2(
        money.parse(detail["TaxAmount"], "Line.JournalEntryLineDetail.TaxAmount") or money.ZERO
    )
    return True


def _check_je_party(company: Company, detail: dict[str, Any]) -> None:
    account = company.table("Account").get(str(detail["AccountRef"].get("value"))) or {}
    entity = detail.get("Entity") or {}
    kind = entity.get("Type")
    if account.get("AccountType") == "Accounts Receivable" and kind != "Customer":
        raise faults.business(JE_AR_TEXT, "Line.JournalEntryLineDetail.Entity")
    if account.get("AccountType") == "Accounts Payable" and kind != "Vendor":
        raise faults.business(JE_AP_TEXT, "Line.JournalEntryLineDetail.Entity")
    if kind in ("Customer", "Vendor", "Employee"):
        common.check_ref(
            company, str(kind), "Line.JournalEntryLineDetail.Entity.EntityRef", entity.get("EntityRef") or {}
        )
