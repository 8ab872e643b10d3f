"""The readiness report: every check the seeds' "preparatory steps" asked a person to do by hand."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from services.mapper.mapping.base import SUPPORTED_COUNTRIES, us_tax
from services.mapper.mapping.lookups import ACCOUNT_TYPES, currency_not_added, group_code
from services.mapper.reference import Reference
from services.mapper.sync_settings import SyncSettings
from shared.contracts.internal import CompanyProfile

Status = Literal["ok", "warning", "blocking"]
_RANK = {"ok": 0, "warning": 1, "blocking": 2}


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the report: what was checked, its status, what is wrong and how to fix it."""

    name: str
    status: Status
    message: str
    fix: str = ""


@dataclass(frozen=True, slots=True)
class UsedValues:
    """Values the platform uses: declared in settings plus those seen in events."""

    tax_rates: frozenset[str] = frozenset()
    payment_methods: frozenset[str] = frozenset()
    payment_terms_days: frozenset[int] = frozenset()
    currencies: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Inputs:
    company: CompanyProfile
    settings: SyncSettings
    reference: Reference
    used: UsedValues = field(default_factory=UsedValues)
    connection_status: str = "active"
    # Whether the company's reference import has ended (until then, its events wait for it).
    imported: bool = True


def overall(checks: list[Check]) -> Status:
    return max((c.status for c in checks), key=lambda s: _RANK[s], default="ok")


def report(inputs: Inputs) -> list[Check]:
    """Every check, in the order a person would work through them."""
    checks: list[Check] = []
    for rule in RULES:
        checks.extend(rule(inputs))
    return checks


def _ok(name: str, message: str) -> Check:
    return Check(name, "ok", message)


def connection(i: Inputs) -> list[Check]:
    if i.connection_status == "active":
        return [_ok("connection", "the QuickBooks connection is active")]
    return [
        Check(
            "connection",
            "blocking",
            f"the connection is {i.connection_status.replace('_', ' ')}",
            "reconnect the company to QuickBooks",
        )
    ]


def mirror(i: Inputs) -> list[Check]:
    if not i.imported:
        return [
            Check(
                "reference_data",
                "warning",
                "the company's lists (accounts, tax codes, items, customers...) are still being "
                "imported; events sent now wait for the import and are then mapped",
                "nothing to do: wait for the import to end",
            )
        ]
    if i.reference.is_empty():
        return [
            Check(
                "reference_data",
                "warning",
                "no QBO reference data (accounts, tax codes, terms...) "
                "has arrived yet, so every name below looks missing",
                "wait for the initial import, or refresh the connection",
            )
        ]
    return [_ok("reference_data", "QBO reference data is mirrored")]


def country(i: Inputs) -> list[Check]:
    c = i.company.country.upper()
    if c in SUPPORTED_COUNTRIES:
        return [_ok("country", f"{c} companies are supported")]
    return [
        Check(
            "country",
            "blocking",
            f"QBO companies in {c} are not supported (US, GB, CA, AU are)",
            "connect a US, UK, Canadian or Australian company",
        )
    ]


def currency(i: Inputs) -> list[Check]:
    home = i.company.home_currency
    foreign = sorted(c for c in i.used.currencies if c != home)
    if not foreign:
        return [_ok("currency", f"the platform uses the company's home currency {home}")]
    active = i.company.currencies
    missing = [c for c in foreign if active is not None and c not in active]
    if i.company.multicurrency and missing:
        return [Check("currency", "blocking", *currency_not_added(code, active or [])) for code in missing]
    if i.company.multicurrency:
        return [_ok("currency", f"multicurrency is on; documents in {', '.join(foreign)} are accepted")]
    return [
        Check(
            "currency",
            "blocking",
            f"the platform uses {', '.join(foreign)} but the QBO company works in {home} only",
            "turn on Multicurrency in QBO (Account and settings > Advanced; it cannot be turned off), "
            f"or invoice in {home}",
        )
    ]


def edition(i: Inputs) -> list[Check]:
    po = i.settings.category("purchase_orders")
    plus = any(e in i.company.edition.casefold() for e in ("plus", "advanced"))
    if po.to_qbo and not plus:
        return [
            Check(
                "edition",
                "blocking",
                f"purchase orders are enabled but {i.company.edition} has none (Plus or Advanced only)",
                "upgrade QBO, or disable the purchase_orders category",
            )
        ]
    return [_ok("edition", f"{i.company.edition} supports the enabled categories")]


def tax_rates(i: Inputs) -> list[Check]:
    out = []
    for rate in sorted(i.used.tax_rates):
        if rate in i.settings.tax.exempt:
            continue
        name = i.settings.tax.rates.get(rate, rate)
        if i.reference.find("TaxCode", name) is None and rate not in i.settings.tax.groups:
            out.append(
                Check(
                    "tax_rate",
                    "blocking",
                    f"platform tax rate '{rate}' has no QBO tax code '{name}'",
                    f'map it in settings tax.rates {{"{rate}": "<QBO tax code>"}}, or rename it',
                )
            )
    out += _tax_groups(i)
    default = i.settings.tax.default_code
    if i.company.country.upper() != "US" and default and i.reference.find("TaxCode", default) is None:
        out.append(
            Check(
                "tax_rate",
                "blocking",
                f"default tax code '{default}' is not in QBO",
                "set tax.default_code to a QBO tax code name",
            )
        )
    return out or [_ok("tax_rate", "every platform tax rate has a QBO tax code")]


def _tax_groups(i: Inputs) -> list[Check]:
    """A platform group tax needs one QBO code applying exactly its component rates."""
    out = []
    for group, parts in sorted(i.settings.tax.groups.items()):
        if group in i.settings.tax.rates or i.reference.find("TaxCode", group) is not None:
            continue  # mapped or named like a QBO code: the group's components are not consulted
        if group_code(i.reference, parts, purchase=False) is None:
            out.append(
                Check(
                    "tax_rate",
                    "blocking",
                    f"platform group tax '{group}' ({' + '.join(parts)}) has no QBO tax code applying "
                    "exactly those rates",
                    "create a combined tax code in QBO over those rates (Taxes > Sales tax settings), "
                    f'or map it in settings tax.rates {{"{group}": "<QBO tax code>"}}',
                )
            )
    return out


def payment_methods(i: Inputs) -> list[Check]:
    out = []
    for method in sorted(i.used.payment_methods):
        name = i.settings.payment_methods.names.get(method, method)
        if i.reference.find("PaymentMethod", name) is None:
            out.append(
                Check(
                    "payment_method",
                    "blocking",
                    f"payment method '{method}' is not in QBO",
                    f"create '{name}' in QBO or map it in settings payment_methods.names",
                )
            )
    return out or [_ok("payment_method", "every platform payment method is in QBO")]


def terms(i: Inputs) -> list[Check]:
    out = []
    for days in sorted(i.used.payment_terms_days):
        mapped = i.settings.terms.by_days.get(days)
        found = i.reference.find("Term", mapped) if mapped else _term(i.reference, days)
        if found is None:
            out.append(
                Check(
                    "terms",
                    "blocking",
                    f"no QBO term for {days} days",
                    f"create a Term due in {days} days (or named '{days}'), or map it in terms.by_days",
                )
            )
    return out or [_ok("terms", "every payment terms value has a QBO term")]


def _term(reference: Reference, days: int) -> object:
    for t in reference.all("Term"):
        if t.data.get("DueDays") is not None and int(t.data["DueDays"]) == days:
            return t
    return reference.find("Term", str(days))


def accounts(i: Inputs) -> list[Check]:
    out = []
    for setting, allowed in ACCOUNT_TYPES.items():
        name = getattr(i.settings.accounts, setting)
        if name is None:
            if setting in _needed(i):
                out.append(
                    Check(
                        "account",
                        "blocking",
                        f"no default {setting.replace('_', ' ')} account is set",
                        f"set accounts.{setting} to a QBO account ({' or '.join(allowed)})",
                    )
                )
            continue
        found = i.reference.find("Account", name)
        if found is None:
            out.append(
                Check(
                    "account",
                    "blocking",
                    f"accounts.{setting} '{name}' is not in QBO",
                    "use the exact name from the QBO chart of accounts",
                )
            )
        elif found.data.get("AccountType") not in allowed:
            out.append(
                Check(
                    "account",
                    "blocking",
                    f"accounts.{setting} '{name}' is a {found.data.get('AccountType')} account",
                    f"choose a {' or '.join(allowed)} account",
                )
            )
    return out or [_ok("account", "default accounts exist with the right types")]


def _needed(i: Inputs) -> set[str]:
    needed = set()
    if i.settings.create_missing_items and i.settings.category("invoices").to_qbo:
        needed.add("income")
    if i.settings.category("bills").to_qbo or i.settings.category("purchase_orders").to_qbo:
        needed.add("expense")
    if i.settings.category("payments").to_qbo:
        needed.add("refund_from")
    if i.settings.summarized and i.settings.category("invoices").to_qbo:
        needed |= {"income", "accounts_receivable"}
        if us_tax(i.company):  # outside the US QBO posts a journal line's tax to the agency by itself
            needed.add("sales_tax")
    return needed


def posting(i: Inputs) -> list[Check]:
    """Summarized journal mode: the master customer the day's receivables are posted to exists."""
    if not i.settings.summarized:
        return []
    name = i.settings.posting.master_customer
    if name is None:
        return [
            Check(
                "posting",
                "blocking",
                "summarized journal mode has no master customer",
                "set posting.master_customer to the QBO customer the receivables go to",
            )
        ]
    if i.reference.find("Customer", name) is None:
        return [
            Check(
                "posting",
                "blocking",
                f"posting.master_customer '{name}' is not a customer in QBO",
                "create that customer in QBO, or use the exact DisplayName of an existing one",
            )
        ]
    return [_ok("posting", f"one journal entry a day, receivables against '{name}'")]


def tracking(i: Inputs) -> list[Check]:
    out = []
    for label, names, tracked, where in (
        ("classes", i.settings.classes, i.company.class_tracking != "off", "Track classes"),
        ("locations", i.settings.locations, i.company.department_tracking, "Track locations"),
    ):
        if names.enabled and not tracked:
            out.append(
                Check(
                    label,
                    "blocking",
                    f"settings use {label} but the QBO company does not track them",
                    f"turn on '{where}' in QBO (Account and settings > Advanced), or disable {label}",
                )
            )
        elif tracked and not names.enabled:
            out.append(
                Check(
                    label,
                    "warning",
                    f"the QBO company tracks {label} but settings do not send them",
                    f"enable {label} in settings if the platform has them",
                )
            )
    return out or [_ok("tracking", "class and location tracking agree with settings")]


def numbering(i: Inputs) -> list[Check]:
    if i.settings.keep_platform_numbers and not i.company.custom_txn_numbers:
        return [
            Check(
                "doc_numbers",
                "blocking",
                "platform document numbers must be kept but QBO numbers "
                "invoices itself (custom transaction numbers are off)",
                "turn on Custom transaction numbers in QBO (Account and settings > Sales), or set "
                "keep_platform_numbers to false",
            )
        ]
    return [_ok("doc_numbers", "document numbering agrees with settings")]


def book_close(i: Inputs) -> list[Check]:
    closed = i.company.book_close_date
    if closed is None:
        return [_ok("book_close", "the books are not closed")]
    out = []
    for name, cat in i.settings.categories.items():
        if (
            cat.to_qbo
            and name not in ("customers", "vendors", "items")
            and (cat.start_date is None or cat.start_date <= closed)
        ):
            start = cat.start_date.isoformat() if cat.start_date else "no start date"
            out.append(
                Check(
                    "book_close",
                    "warning",
                    f"{name} start at {start} but the books are closed up to "
                    f"{closed.isoformat()}; QBO refuses documents in the closed period",
                    f"set categories.{name}.start_date after {closed.isoformat()}",
                )
            )
    return out or [_ok("book_close", "start dates are after the book close date")]


def fallback_item(i: Inputs) -> list[Check]:
    name = i.settings.fallback_item
    if name is None or i.reference.find("Item", name) is not None:
        return [_ok("fallback_item", "lines without an item code have an item to use")]
    return [
        Check(
            "fallback_item",
            "warning",
            f"fallback item '{name}' is not in QBO; lines without an item code will be refused",
            "set fallback_item to an existing product/service name",
        )
    ]


RULES: tuple[Callable[[Inputs], list[Check]], ...] = (
    connection,
    mirror,
    country,
    currency,
    edition,
    tax_rates,
    payment_methods,
    terms,
    accounts,
    posting,
    tracking,
    numbering,
    book_close,
    fallback_item,
)
