"""Per-connection settings: what syncs, which way, from when, and how platform names meet QBO's.

These replace the seeds' "preparatory steps": instead of renaming things in QuickBooks by hand,
a platform value is matched by equal name unless a mapping here says otherwise.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Category = Literal["customers", "vendors", "items", "invoices", "payments", "bills", "purchase_orders"]
CATEGORIES: tuple[Category, ...] = (
    "customers",
    "vendors",
    "items",
    "invoices",
    "payments",
    "bills",
    "purchase_orders",
)
Direction = Literal["to_qbo", "from_qbo", "both", "off"]
QboName = Annotated[str, Field(min_length=1, max_length=100)]
PlatformName = Annotated[str, Field(min_length=1, max_length=100)]


class _Strict(BaseModel):
    # Unknown keys are refused: a typo in a settings document must not silently do nothing.
    model_config = ConfigDict(extra="forbid", frozen=True)


class CategorySettings(_Strict):
    """One category of records (invoices and credit notes, bills, ...)."""

    enabled: bool = True
    direction: Direction = Field(
        default="to_qbo",
        description="to_qbo: platform events are written to QBO; from_qbo: changes made in QBO reach the "
        "platform (qbo.<entity>.changed); both; off",
    )
    start_date: dt.date | None = Field(
        default=None, description="Documents dated before this are not synced, either way"
    )
    when_excluded: Literal["reject", "skip"] = Field(
        default="reject",
        description="An event this category excludes (disabled, other direction, before the start "
        "date) is answered with sync.rejected, or only logged when 'skip'",
    )

    @property
    def to_qbo(self) -> bool:
        return self.enabled and self.direction in ("to_qbo", "both")


class DefaultAccounts(_Strict):
    """QBO account names used where a document does not name one."""

    income: QboName | None = Field(default=None, description="Income account of items the bridge creates")
    expense: QboName | None = Field(default=None, description="Expense account of bill lines without one")
    accounts_receivable: QboName | None = None
    accounts_payable: QboName | None = None
    deposit: QboName | None = Field(
        default=None, description="Where customer payments go (e.g. 'Undeposited Funds')"
    )
    discount: QboName | None = None
    refund_from: QboName | None = Field(default=None, description="Bank account refunds are paid from")
    inventory_asset: QboName | None = Field(
        default=None, description="Asset account of inventory items whose event names none"
    )
    cost_of_goods_sold: QboName | None = Field(
        default=None, description="Cost of goods sold account of inventory items whose event names none"
    )
    sales_tax: QboName | None = Field(
        default=None,
        description="Summarized journal, US companies: the liability account the day's sales tax is "
        "credited to (e.g. 'Sales Tax Payable'); outside the US QBO posts each income line's tax "
        "to the tax agency's account itself, so this is not used there",
    )


class TaxSettings(_Strict):
    """Platform tax rate name → QBO tax code name; equal names match without an entry."""

    rates: dict[PlatformName, QboName] = Field(default_factory=dict)
    groups: dict[PlatformName, list[PlatformName]] = Field(
        default_factory=dict,
        description="Platform group taxes and their component rates (used to find a QBO code "
        "whose rates are the same components)",
    )
    exempt: list[PlatformName] = Field(
        default_factory=list, description="Platform rates meaning 'no tax' (US: the NON code)"
    )
    default_code: QboName | None = Field(
        default=None, description="Non-US: the QBO tax code for lines that carry no tax rate"
    )


class TermSettings(_Strict):
    """Payment-terms days → QBO Term name; without an entry, the Term whose DueDays or name is the number."""

    by_days: dict[int, QboName] = Field(default_factory=dict)

    @field_validator("by_days")
    @classmethod
    def _days_in_range(cls, value: dict[int, str]) -> dict[int, str]:
        bad = [d for d in value if not 0 <= d <= 999]
        if bad:
            raise ValueError(f"payment terms days must be 0..999 (QBO's DueDays range); got {bad}")
        return value


class NameMap(_Strict):
    """Platform names → QBO names (classes, locations, payment methods); equal names need no entry."""

    enabled: bool = True
    names: dict[PlatformName, QboName] = Field(default_factory=dict)


class PlatformValues(_Strict):
    """Values the platform uses, declared ahead so readiness can check them before the first event."""

    tax_rates: list[PlatformName] = Field(default_factory=list)
    payment_methods: list[PlatformName] = Field(default_factory=list)
    payment_terms_days: list[Annotated[int, Field(ge=0, le=999)]] = Field(default_factory=list)
    currencies: list[Annotated[str, Field(pattern=r"^[A-Z]{3}$")]] = Field(default_factory=list)


class PostingSettings(_Strict):
    """How sales documents reach QBO: one by one, or summarised in one journal entry a day."""

    mode: Literal["documents", "summarized_journal"] = Field(
        default="documents",
        description="documents: an Invoice/CreditMemo per platform document; summarized_journal: one "
        "JournalEntry per connection per period summarising the period's invoices and credit notes",
    )
    master_customer: QboName | None = Field(
        default=None,
        description="Summarized journal: the QBO customer (DisplayName) the receivables and payments "
        "are posted to",
    )
    period: Literal["day"] = Field(default="day", description="Summarized journal: one entry per day")


def _categories() -> dict[Category, CategorySettings]:
    return {c: CategorySettings() for c in CATEGORIES}


class SyncSettings(_Strict):
    """Everything a tenant decides about one connection; validated and versioned."""

    categories: dict[Category, CategorySettings] = Field(default_factory=_categories)
    accounts: DefaultAccounts = Field(default_factory=DefaultAccounts)
    customer_match: Literal["code", "name", "company_name"] = Field(
        default="code", description="Which platform customer field becomes the QBO DisplayName"
    )
    vendor_name_collision_suffix: str = Field(
        default=" (v)",
        min_length=1,
        max_length=20,
        description="Appended to a vendor's DisplayName when a customer already uses the name",
    )
    tax: TaxSettings = Field(default_factory=TaxSettings)
    terms: TermSettings = Field(default_factory=TermSettings)
    payment_methods: NameMap = Field(default_factory=NameMap)
    classes: NameMap = Field(default_factory=lambda: NameMap(enabled=False))
    locations: NameMap = Field(default_factory=lambda: NameMap(enabled=False))
    fallback_item: QboName | None = Field(
        default="Services", description="QBO item for sales lines that carry no item code"
    )
    create_missing_items: bool = Field(
        default=True, description="Create an item for a sales line whose item code QBO does not have"
    )
    keep_platform_numbers: bool = Field(
        default=True, description="Send the platform's document numbers as DocNumber"
    )
    platform_values: PlatformValues = Field(default_factory=PlatformValues)
    posting: PostingSettings = Field(default_factory=PostingSettings)

    @property
    def summarized(self) -> bool:
        return self.posting.mode == "summarized_journal"

    @model_validator(mode="after")
    def _every_category_present(self) -> SyncSettings:
        missing = {c: CategorySettings() for c in CATEGORIES if c not in self.categories}
        if missing:
            object.__setattr__(self, "categories", {**self.categories, **missing})
        return self

    @field_validator("vendor_name_collision_suffix")
    @classmethod
    def _suffix_allowed(cls, value: str) -> str:
        if any(ch in value for ch in ":\t\n"):
            raise ValueError("the suffix may not contain ':', tab or newline (QBO refuses them in names)")
        return value

    def category(self, name: Category) -> CategorySettings:
        return self.categories[name]
