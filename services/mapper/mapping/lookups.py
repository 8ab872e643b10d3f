"""Platform names → QBO references via settings and the mirror; each miss says how to fix it."""

from __future__ import annotations

from typing import Any

from services.mapper.mapping.base import MapContext
from services.mapper.reference import RefEntity, Reference

# Default-account setting → QBO AccountTypes it may have (reference §8.14).
ACCOUNT_TYPES: dict[str, tuple[str, ...]] = {
    "income": ("Income", "Other Income"),
    "expense": ("Expense", "Other Expense", "Cost of Goods Sold"),
    "accounts_receivable": ("Accounts Receivable",),
    "accounts_payable": ("Accounts Payable",),
    "deposit": ("Bank", "Other Current Asset"),
    "discount": ("Income", "Other Income", "Expense", "Other Expense"),
    "refund_from": ("Bank", "Other Current Asset", "Credit Card"),
    "inventory_asset": ("Other Current Asset",),
    "cost_of_goods_sold": ("Cost of Goods Sold",),
    "sales_tax": ("Other Current Liability",),
}


def tax_code_name(ctx: MapContext, rate: str) -> str:
    """The QBO tax code a platform rate maps to: the settings' entry, else the equal name."""
    return ctx.settings.tax.rates.get(rate, rate)


def is_exempt(ctx: MapContext, rate: str | None) -> bool:
    return rate is None or rate in ctx.settings.tax.exempt


def tax_code(ctx: MapContext, path: str, rate: str, *, purchase: bool = False) -> RefEntity | None:
    """The QBO TaxCode for a platform tax rate name."""
    name = tax_code_name(ctx, rate)
    found = ctx.reference.find("TaxCode", name) or _group_code(ctx, rate, purchase=purchase)
    if found is None:
        ctx.problem(
            path,
            f"tax rate '{rate}' has no QBO tax code" + (f" (looked for '{name}')" if name != rate else ""),
            f'map it in settings tax.rates, e.g. {{"{rate}": "<QBO tax code name>"}}, '
            "or name the platform rate like the QBO tax code",
        )
    return found


def _group_code(ctx: MapContext, rate: str, *, purchase: bool) -> RefEntity | None:
    components = ctx.settings.tax.groups.get(rate)
    return group_code(ctx.reference, components, purchase=purchase) if components else None


def group_code(reference: Reference, components: list[str], *, purchase: bool) -> RefEntity | None:
    """The QBO code applying exactly these rates (a platform group tax such as "GST+PST"), if any."""
    wanted = {c.casefold() for c in components}
    for code in reference.all("TaxCode"):
        rates = (
            reference.get("TaxRate", rid) for rid, _ in reference.tax_rate_percent(code, purchase=purchase)
        )
        if {r.name.casefold() for r in rates if r is not None} == wanted:
            return code
    return None


def term(ctx: MapContext, path: str, days: int) -> dict[str, str] | None:
    """The Term for a number of days: the settings' entry, else DueDays == days, else Name == str(days)."""
    mapped = ctx.settings.terms.by_days.get(days)
    found = ctx.reference.find("Term", mapped) if mapped else _term_by_days(ctx, days)
    if found is None:
        ctx.problem(
            path,
            f"no QBO term for payment terms of {days} days"
            + (f" (settings name '{mapped}', which QBO does not have)" if mapped else ""),
            f"create a Term in QBO with Due in {days} days (or named '{days}'), or map it in settings "
            f"terms.by_days",
        )
        return None
    return found.ref()


def _term_by_days(ctx: MapContext, days: int) -> RefEntity | None:
    for t in ctx.reference.all("Term"):
        if t.data.get("DueDays") is not None and int(t.data["DueDays"]) == days:
            return t
    return ctx.reference.find("Term", str(days))


def payment_method(ctx: MapContext, path: str, name: str) -> dict[str, str] | None:
    qbo_name = ctx.settings.payment_methods.names.get(name, name)
    found = ctx.reference.find("PaymentMethod", qbo_name)
    if found is None:
        ctx.problem(
            path,
            f"payment method '{name}' has no QBO payment method",
            f"create '{qbo_name}' in QBO (Lists > Payment methods) or map it in settings "
            "payment_methods.names",
        )
        return None
    return found.ref()


def named_list(ctx: MapContext, path: str, entity: str, name: str) -> dict[str, str] | None:
    """A Class or Department (location) by platform name."""
    names = ctx.settings.classes if entity == "Class" else ctx.settings.locations
    qbo_name = names.names.get(name, name)
    found = ctx.reference.find(entity, qbo_name)
    label = "class" if entity == "Class" else "location"
    if found is None:
        setting = "classes" if entity == "Class" else "locations"
        ctx.problem(
            path,
            f"{label} '{name}' is not in QBO",
            f"create the {label} '{qbo_name}' in QBO or map it in settings {setting}.names",
        )
        return None
    return found.ref()


def account(ctx: MapContext, path: str, setting: str, *, required: bool) -> dict[str, str] | None:
    """A default account from settings, checked against the mirror and its expected type."""
    name: str | None = getattr(ctx.settings.accounts, setting)
    if name is None:
        if required:
            ctx.problem(
                path, f"no default {setting.replace('_', ' ')} account is set", f"set accounts.{setting}"
            )
        return None
    return account_named(ctx, path, name, allowed=ACCOUNT_TYPES[setting], setting=f"accounts.{setting}")


def account_named(
    ctx: MapContext, path: str, name: str, *, allowed: tuple[str, ...], setting: str = ""
) -> dict[str, str] | None:
    found = ctx.reference.find("Account", name)
    where = f" (settings {setting})" if setting else ""
    if found is None:
        ctx.problem(
            path, f"account '{name}'{where} is not in QBO", "use the exact name from the chart of accounts"
        )
        return None
    kind = str(found.data.get("AccountType", ""))
    if kind not in allowed:
        ctx.problem(
            path,
            f"account '{name}'{where} is a {kind} account; it must be one of: {', '.join(allowed)}",
            "choose an account of the right type",
        )
        return None
    return found.ref()


def item(ctx: MapContext, code: str) -> RefEntity | None:
    return ctx.reference.find("Item", code)


def currency(ctx: MapContext, path: str, code: str | None, rate: Any) -> dict[str, Any]:
    """CurrencyRef/ExchangeRate with multicurrency on; a foreign currency without it is refused."""
    company = ctx.target.company
    if code is None or code == company.home_currency:
        return {"CurrencyRef": {"value": code}} if company.multicurrency and code else {}
    if not company.multicurrency:
        ctx.problem(
            path,
            f"the document is in {code} but the QBO company works in {company.home_currency} only",
            "turn on Multicurrency in QBO (Account and settings > Advanced), or send the document in "
            f"{company.home_currency}",
        )
        return {}
    if company.currencies is not None and code not in company.currencies:
        ctx.problem(path, *currency_not_added(code, company.currencies))
        return {}
    out: dict[str, Any] = {"CurrencyRef": {"value": code}}
    if rate is not None:
        out["ExchangeRate"] = rate
    return out


def currency_not_added(code: str, active: list[str]) -> tuple[str, str]:
    """(message, fix) for a foreign currency the company's currency list does not have (QBO refuses it)."""
    listed = ", ".join(sorted(active)) or "none"
    return (
        f"the document is in {code}, which is not in the QBO company's currency list (active: {listed})",
        f"add {code} in QBO (Settings > Currencies), then refresh the connection's company profile "
        "(POST auth:/v1/connections/{id}/refresh-profile)",
    )
