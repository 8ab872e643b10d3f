"""Summarized journal mode: a day's invoices and credit notes as one QBO JournalEntry. No I/O.

Each document becomes its *share* of the day (receivables, income per account and tax code, tax per
tax code), computed as QBO would compute the document; the day's entry is the sum of the shares of
the documents that count for it. The receivable of a document is its income plus its tax.

JournalEntry tax outside the US (GB, CA, AU). What the sources say:

- A non-US journal line with ``TaxCodeRef`` must carry ``TaxApplicableOn`` and ``TaxAmount``; each
  TaxCodeRef can result in one or more tax lines (``TxnTaxDetail.TaxLine``); tax lines a client sends
  are not overridden, and values that leave total debits unequal to total credits are an error;
  ``GlobalTaxCalculation`` (TaxExcluded / TaxInclusive) is required for non-US companies (minor
  version 53); in AU a TaxInclusive entry's taxed lines need ``TaxInclusiveAmt``. Intuit's JournalEntry
  reference, https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/journalentry
  (read through the scrape Petrus-Han/finance_plugins ref/quickbooks_dev_docs/api-reference/journalentry.md).
- QBO posts a tax-coded line's tax to the tax agency's liability account by itself, on the line's
  own side: in the QBO Canada journal form, a $1,000 credit with GST "adds a $50 credit to GST"; a
  debit or credit made straight to a sales tax account reaches the general ledger but not the sales
  tax reports or return (http://www.dilauro.ca/yes-you-can/). In the data of VAT companies the lines
  of a journal entry with VAT do not balance by themselves: the difference is exactly the entry's tax
  lines, which belong to the VAT payable account (https://github.com/fivetran/dbt_quickbooks/issues/56,
  https://github.com/fivetran/dbt_quickbooks/issues/153).

So outside the US the entry balances as QBO posts it: the receivable (net + tax, debited) equals the
income lines' net amounts plus their ``TaxAmount`` (credited), with ``GlobalTaxCalculation``
TaxExcluded (amounts are net whatever the documents were) and no line of its own to a tax account
(that would count the tax twice and keep it off the VAT/GST return). No ``TxnTaxDetail`` is sent: QBO
derives the tax lines per rate from the lines' codes and amounts, and lines sent would be kept as
sent. In the US a journal line carries no tax: the day's tax is a credit per tax code to
``accounts.sales_tax``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

from services.mapper.mapping import lookups, totals
from services.mapper.mapping.base import ZERO, MapContext, Rejection
from services.mapper.mapping.lines import TaxCollector, non_us_code
from shared.contracts.internal import ExportRequested
from shared.contracts.platform import SalesDocument

# Events that, in summarized mode, change the day's journal entry instead of writing a document.
SUMMARIZED_EVENTS = frozenset(
    {
        "invoice.approved",
        "invoice.updated",
        "invoice.voided",
        "credit_note.issued",
        "credit_note.updated",
        "credit_note.voided",
    }
)
VOIDS = frozenset({"invoice.voided", "credit_note.voided"})
ENTITY = "JournalEntry"


def document_key(event_type: str, data: Any) -> str:
    """``invoice:inv_1`` / ``credit_note:cn_1``: a document's key in the day's set."""
    kind = event_type.split(".", 1)[0]
    return f"{kind}:{getattr(data, f'{kind}_id')}"


def day_key(day: dt.date, generation: int) -> str:
    """The platform id of a day's entry; a new generation after the day's entry was deleted."""
    return f"journal-{day.isoformat()}" + (f"-g{generation}" if generation else "")


def _income_account(ctx: MapContext, path: str, code: str | None) -> str | None:
    name = code or ctx.settings.fallback_item
    item = lookups.item(ctx, name) if name else None
    ref = (item.data.get("IncomeAccountRef") or {}) if item is not None else {}
    if ref.get("value"):
        return str(ref["value"])
    income = lookups.account(ctx, path, "income", required=True)
    return income["value"] if income else None


def _master_checks(ctx: MapContext, *, taxed: bool) -> dict[str, Any]:
    """The refs every entry needs: master customer, receivables account, tax account when a US entry
    is taxed."""
    master = ctx.settings.posting.master_customer
    found = ctx.reference.find("Customer", master) if master else None
    if found is None:
        ctx.problem(
            "$.settings.posting.master_customer",
            f"the master customer '{master}' is not in QBO" if master else "no master customer is set",
            "set posting.master_customer to the DisplayName of a QBO customer",
        )
    refs: dict[str, Any] = {"customer": found.ref() if found else None}
    refs["ar"] = lookups.account(ctx, "$.settings.accounts", "accounts_receivable", required=True)
    if taxed and ctx.target.us:  # outside the US QBO posts a line's tax to the agency's account itself
        refs["tax"] = lookups.account(ctx, "$.settings.accounts", "sales_tax", required=True)
    return refs


def share(ctx: MapContext, doc: SalesDocument, *, credit: bool) -> dict[str, Any]:
    """One document's share of its day (credit notes count negative), or a ``Rejection``."""
    home = ctx.target.company.home_currency
    if doc.currency is not None and doc.currency != home:
        ctx.problem(
            "$.data.currency",
            f"summarized journal entries are in the home currency {home}; this document is in {doc.currency}",
            "send the document in the home currency, or set posting.mode to documents",
        )
    taxes = TaxCollector()
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for i, line in enumerate(doc.lines):
        path = f"$.data.lines[{i}]"
        if line.item_code is None and line.amount == ZERO:
            continue  # a description line
        account = _income_account(ctx, f"{path}.item_code", line.item_code)
        if ctx.target.us:
            code = taxes.us_line_code(ctx, f"{path}.tax_rate", line.tax_rate)["value"]
        else:
            ref = non_us_code(ctx, f"{path}.tax_rate", line.tax_rate, purchase=False)
            code = ref["value"] if ref else ""
        detail = {"TaxCodeRef": {"value": code}}
        groups[(account or "", code)].append(
            {"DetailType": "SalesItemLineDetail", "Amount": line.amount, "SalesItemLineDetail": detail}
        )
    header: dict[str, Any] = {}
    if ctx.target.us:
        header["TxnTaxDetail"] = taxes.us_txn_detail(ctx, "$.data.lines")
    else:
        header["GlobalTaxCalculation"] = "TaxInclusive" if doc.tax_inclusive else "TaxExcluded"
    sign = Decimal(-1) if credit else Decimal(1)
    out = _sum_groups(ctx, groups, header, inclusive=doc.tax_inclusive and not ctx.target.us)
    _master_checks(ctx, taxed=bool(out["tax"]))
    ctx.result("the document cannot be added to the day's journal entry")
    return {
        "ar": str(sign * out["ar"]),
        "income": [[a, c, str(sign * n), str(sign * t)] for (a, c), (n, t) in sorted(out["income"].items())],
        "tax": [[code, str(sign * t)] for code, t in sorted(out["tax"].items())],
    }


def _sum_groups(
    ctx: MapContext,
    groups: dict[tuple[str, str], list[dict[str, Any]]],
    header: dict[str, Any],
    *,
    inclusive: bool,
) -> dict[str, Any]:
    us = ctx.target.us
    ar = ZERO
    income: dict[tuple[str, str], tuple[Decimal, Decimal]] = {}
    tax: dict[str, Decimal] = defaultdict(lambda: ZERO)
    if us:  # one tax code a document, over its TAX lines: QBO rounds it once per document
        lines = [ln for group in groups.values() for ln in group]
        total_tax = totals.tax(ctx.reference, header | {"Line": lines}, us=True, purchase=False)
        code = str(((header.get("TxnTaxDetail") or {}).get("TxnTaxCodeRef") or {}).get("value", ""))
        if total_tax:
            tax[code] += total_tax
        for (account, _), group in groups.items():
            amount = sum((Decimal(str(ln["Amount"])) for ln in group), ZERO)
            prev = income.get((account, ""), (ZERO, ZERO))
            income[(account, "")] = (prev[0] + amount, ZERO)
        ar = sum((n for n, _ in income.values()), ZERO) + total_tax
    else:
        for (account, code), group in groups.items():
            amount = sum((Decimal(str(ln["Amount"])) for ln in group), ZERO)
            t = totals.tax(ctx.reference, header | {"Line": group}, us=False, purchase=False)
            income[(account, code)] = (amount - t if inclusive else amount, t)
            if t:
                tax[code] += t
            ar += amount if inclusive else amount + t
    return {"ar": ar, "income": income, "tax": dict(tax)}


def _add(total: dict[Any, Decimal], key: Any, value: str) -> None:
    total[key] = total.get(key, ZERO) + Decimal(value)


def _posting(amount: Decimal, *, debit: bool) -> str:
    """Debit/Credit of a line whose natural side is ``debit`` (a negative amount flips it)."""
    return "Debit" if (amount > 0) == debit else "Credit"


def _line(amount: Decimal, account: dict[str, Any], *, debit: bool, description: str) -> dict[str, Any]:
    detail: dict[str, Any] = {"PostingType": _posting(amount, debit=debit), "AccountRef": account}
    return {
        "DetailType": "JournalEntryLineDetail",
        "Amount": abs(amount),
        "Description": description,
        "JournalEntryLineDetail": detail,
    }


def entry_payload(
    ctx: MapContext, day: dt.date, shares: list[dict[str, Any]], *, generation: int, counts: tuple[int, int]
) -> dict[str, Any] | None:
    """The day's JournalEntry from the shares of the documents that count for it (None: nothing to post)."""
    ar = ZERO
    income: dict[tuple[str, str], Decimal] = {}
    line_tax: dict[tuple[str, str], Decimal] = {}
    tax: dict[str, Decimal] = {}
    for s in shares:
        ar += Decimal(s["ar"])
        for account, code, net, t in s["income"]:
            _add(income, (account, code), net)
            _add(line_tax, (account, code), t)
        for code, t in s["tax"]:
            _add(tax, code, t)
    tax = {code: t for code, t in tax.items() if t}
    refs = _master_checks(ctx, taxed=bool(tax))
    if ctx.issues:
        raise Rejection(
            "invalid_for_qbo",
            "the day's journal entry cannot be sent to QuickBooks: "
            + "; ".join(f"{i.path}: {i.message}" for i in ctx.issues),
            hint=ctx.issues[0].hint,
            problems=ctx.issues,
        )
    invoices, credits = counts
    what = f"{invoices} invoice(s), {credits} credit note(s) of {day.isoformat()}"
    lines = []
    if ar:
        ar_line = _line(ar, refs["ar"], debit=True, description=f"Receivables: {what}")
        ar_line["JournalEntryLineDetail"]["Entity"] = {"Type": "Customer", "EntityRef": refs["customer"]}
        lines.append(ar_line)
    for (account, code), net in sorted(income.items()):
        t = line_tax.get((account, code), ZERO) if not ctx.target.us and code else ZERO
        if net or t:
            lines.append(_income_line(account, code, net, t, description=f"Income: {what}"))
    for code, t in sorted(tax.items()) if ctx.target.us else ():
        found = ctx.reference.get("TaxCode", code)
        name = found.name if found else code
        lines.append(_line(t, refs["tax"], debit=False, description=f"Tax {name}: {what}"))
    if not lines:
        return None
    number = f"QBB-{day:%Y%m%d}" + (f"-{generation}" if generation else "")
    header: dict[str, Any] = {} if ctx.target.us else {"GlobalTaxCalculation": "TaxExcluded"}
    return {
        "DocNumber": number,
        "TxnDate": day,
        "PrivateNote": f"qbo-bridge summarized journal: {what}",
        "Line": lines,
    } | header


def _income_line(account: str, code: str, net: Decimal, tax: Decimal, *, description: str) -> dict[str, Any]:
    """A credit of ``net`` income (a debit when negative); outside the US with its code and the tax QBO
    posts beside it. Both are signed as credits: the side follows the net (the tax when the net is
    nil), and a tax of the other sign (cents of per-document rounding) is a negative TaxAmount."""
    line = _line(net or tax, {"value": account}, debit=False, description=description)
    line["Amount"] = abs(net)
    if code:
        side = Decimal(1) if (net or tax) > 0 else Decimal(-1)
        line["JournalEntryLineDetail"] |= {
            "TaxCodeRef": {"value": code},
            "TaxApplicableOn": "Sales",
            "TaxAmount": side * tax,
        }
    return line


def day_commands(
    ctx: MapContext, day: dt.date, shares: list[dict[str, Any]], *, generation: int, counts: tuple[int, int]
) -> list[ExportRequested]:
    """The write that makes QBO's entry for the day what its documents add up to: the entry (created,
    or updated when it exists), or its delete when nothing is left to post."""
    payload = entry_payload(ctx, day, shares, generation=generation, counts=counts)
    key = day_key(day, generation)
    if payload is None:
        ctx.emit(
            entity=ENTITY,
            operation="delete",
            payload={},
            platform_id=key,
            object_type="journal_entry",
            if_absent="skip",
        )
    else:
        ctx.emit(
            entity=ENTITY,
            operation="create",
            payload=payload,
            platform_id=key,
            object_type="journal_entry",
            match=("DocNumber", payload["DocNumber"]),
        )
    return ctx.commands
