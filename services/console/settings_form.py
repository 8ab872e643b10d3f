"""The mapper's sync settings as an HTML form and back: pure, no I/O.

The form is declared field by field (the console imports nothing of the mapper); a settings
key the form does not know is carried over untouched, so a newer mapper loses nothing.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["bool", "choice", "date", "text", "pairs", "list", "list_pairs"]
CATEGORIES = ("customers", "vendors", "items", "invoices", "payments", "bills", "purchase_orders")
CATEGORY_LABELS = {
    "customers": "Customers",
    "vendors": "Vendors",
    "items": "Items",
    "invoices": "Invoices and credit notes",
    "payments": "Payments and refunds",
    "bills": "Bills",
    "purchase_orders": "Purchase orders",
}
DIRECTIONS = ("to_qbo", "from_qbo", "both", "off")


@dataclass(frozen=True)
class Field:
    """One input: its dotted path in the settings document, label, kind and help."""

    path: str
    label: str
    kind: Kind
    options: tuple[str, ...] = ()
    help: str = ""
    optional: bool = True

    @property
    def input_id(self) -> str:
        return "f-" + self.path.replace(".", "-").replace("_", "-")


@dataclass(frozen=True)
class Section:
    title: str
    fields: tuple[Field, ...]
    help: str = ""


def _category_fields(name: str) -> tuple[Field, ...]:
    label = CATEGORY_LABELS[name]
    return (
        Field(f"categories.{name}.enabled", f"{label}: enabled", "bool"),
        Field(f"categories.{name}.direction", f"{label}: direction", "choice", DIRECTIONS),
        Field(f"categories.{name}.start_date", f"{label}: start date", "date"),
        Field(f"categories.{name}.when_excluded", f"{label}: when excluded", "choice", ("reject", "skip")),
    )


PAIRS_HELP = "One per line: platform name = QuickBooks name"
SECTIONS: tuple[Section, ...] = (
    Section(
        "Categories",
        tuple(f for name in CATEGORIES for f in _category_fields(name)),
        "What syncs, which way and from which date; an excluded event is rejected or skipped.",
    ),
    Section(
        "Default accounts",
        tuple(
            Field(f"accounts.{key}", label, "text", help="A QuickBooks account name")
            for key, label in (
                ("income", "Income"),
                ("expense", "Expense"),
                ("accounts_receivable", "Accounts receivable"),
                ("accounts_payable", "Accounts payable"),
                ("deposit", "Deposit to"),
                ("discount", "Discount"),
                ("refund_from", "Refunds paid from"),
                ("sales_tax", "Sales tax payable (summarized journal, US)"),
            )
        ),
    ),
    Section(
        "Posting",
        (
            Field("posting.mode", "Posting mode", "choice", ("documents", "summarized_journal")),
            Field(
                "posting.master_customer",
                "Master customer",
                "text",
                help="Summarized journal: the QuickBooks customer receivables and payments go to",
            ),
            Field("posting.period", "Period", "choice", ("day",)),
        ),
        "Documents one by one, or one journal entry a day summarising the day's invoices and credit notes.",
    ),
    Section(
        "Names and numbers",
        (
            Field("customer_match", "Customer DisplayName from", "choice", ("code", "name", "company_name")),
            Field(
                "vendor_name_collision_suffix",
                "Vendor name collision suffix",
                "text",
                help="Added to a vendor's name when a customer already uses it",
                optional=False,
            ),
            Field("fallback_item", "Fallback item", "text", help="For sales lines without an item code"),
            Field("create_missing_items", "Create missing items", "bool"),
            Field("keep_platform_numbers", "Send the platform's document numbers", "bool"),
        ),
    ),
    Section(
        "Tax",
        (
            Field("tax.rates", "Tax rate → tax code", "pairs", help=PAIRS_HELP),
            Field("tax.groups", "Group taxes", "list_pairs", help="One per line: group = rate, rate"),
            Field("tax.exempt", "Exempt rates", "list", help="Comma-separated platform rate names"),
            Field("tax.default_code", "Default tax code", "text", help="Non-US: for lines without a rate"),
        ),
    ),
    Section(
        "Terms, payment methods, classes and locations",
        (
            Field("terms.by_days", "Terms by days", "pairs", help="One per line: days = QuickBooks term"),
            Field("payment_methods.enabled", "Map payment methods", "bool"),
            Field("payment_methods.names", "Payment methods", "pairs", help=PAIRS_HELP),
            Field("classes.enabled", "Map classes", "bool"),
            Field("classes.names", "Classes", "pairs", help=PAIRS_HELP),
            Field("locations.enabled", "Map locations", "bool"),
            Field("locations.names", "Locations", "pairs", help=PAIRS_HELP),
        ),
    ),
    Section(
        "Values the platform uses",
        tuple(
            Field(f"platform_values.{key}", label, "list", help="Comma-separated; checked by readiness")
            for key, label in (
                ("tax_rates", "Tax rates"),
                ("payment_methods", "Payment methods"),
                ("payment_terms_days", "Payment terms (days)"),
                ("currencies", "Currencies"),
            )
        ),
    ),
)
FIELDS: dict[str, Field] = {f.path: f for s in SECTIONS for f in s.fields}
FormValues = dict[str, str | bool]


def _get(document: Mapping[str, Any], path: str) -> Any:
    node: Any = document
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def _set(document: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = document
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[last] = value


def _shown(field: Field, value: Any) -> str | bool:
    if field.kind == "bool":
        return bool(value)
    if value is None:
        return ""
    if field.kind == "pairs":
        return "\n".join(f"{k} = {v}" for k, v in dict(value).items())
    if field.kind == "list_pairs":
        return "\n".join(f"{k} = {', '.join(map(str, v))}" for k, v in dict(value).items())
    if field.kind == "list":
        return ", ".join(str(v) for v in value)
    return str(value)


def form_values(settings: Mapping[str, Any]) -> FormValues:
    """Each field's value as the form shows it."""
    return {path: _shown(f, _get(settings, path)) for path, f in FIELDS.items()}


def submitted_values(form: Mapping[str, str]) -> FormValues:
    """What the person sent, as the form shows it again (an unticked box is absent, so False)."""
    return {
        path: (path in form) if f.kind == "bool" else str(form.get(path, "")) for path, f in FIELDS.items()
    }


def _lines(text: str) -> list[tuple[int, str]]:
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def _split_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _parsed(field: Field, raw: str | bool) -> tuple[Any, str | None]:
    """The field's value in the settings document, or an error in words."""
    if field.kind == "bool":
        return bool(raw), None
    text = str(raw).strip()
    if field.kind == "list":
        return _split_list(text), None
    if field.kind in ("pairs", "list_pairs"):
        found: dict[str, Any] = {}
        for number, line in _lines(text):
            name, sep, value = line.partition("=")
            if not sep or not name.strip():
                return None, f"line {number}: write it as 'name = value'"
            found[name.strip()] = _split_list(value) if field.kind == "list_pairs" else value.strip()
        return found, None
    if field.kind == "date" and text:
        try:
            dt.date.fromisoformat(text)
        except ValueError:
            return None, "a date such as 2026-01-31"
    if not text and field.optional:
        return None, None
    return (str(raw) if field.path == "vendor_name_collision_suffix" else text), None


def parse_form(
    form: Mapping[str, str], current: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The settings document the form describes (``current`` keeps what the form does not show)."""
    document = copy.deepcopy(dict(current))
    errors: dict[str, list[str]] = {}
    for path, raw in submitted_values(form).items():
        value, error = _parsed(FIELDS[path], raw)
        if error:
            errors.setdefault(path, []).append(error)
        else:
            _set(document, path, value)
    return document, errors


def field_errors(body: Any) -> dict[str, list[str]]:
    """The mapper's 422 → messages by form field ("" for those that belong to no one field).

    FastAPI names a field by ``loc`` (``["body", "tax", "rates", "VAT"]``); a ``problems`` list
    names it by JSON path (``$.tax.rates``). Either lands on the longest field path it starts with.
    """
    errors: dict[str, list[str]] = {}
    for location, message in _problems(body):
        errors.setdefault(_field_for(location), []).append(message)
    return errors


def _problems(body: Any) -> list[tuple[list[str], str]]:
    if not isinstance(body, Mapping):
        return [([], "the settings were refused")]
    found: list[tuple[list[str], str]] = []
    detail = body.get("detail")
    if isinstance(detail, list):
        for item in detail:
            loc = [str(p) for p in item.get("loc", []) if p != "body"]
            found.append((loc, str(item.get("msg", "invalid"))))
    for item in body.get("problems") or []:
        path = str(item.get("path", "")).removeprefix("$").lstrip(".")
        found.append(([p for p in path.split(".") if p], str(item.get("message", "invalid"))))
    if not found and detail:
        found.append(([], str(detail)))
    return found


def _field_for(location: list[str]) -> str:
    for end in range(len(location), 0, -1):
        candidate = ".".join(location[:end])
        if candidate in FIELDS:
            return candidate
    return ""
