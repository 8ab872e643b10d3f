"""Name-list entities: Customer, Vendor, Employee, Item, Account, Class, Department, Term, ..."""

from __future__ import annotations

from typing import Any

from sandbox import faults, money
from sandbox.rules import common, other
from sandbox.specs import Spec
from sandbox.state import Company
from sandbox.store import index_key

ACCOUNT_TYPES: dict[str, tuple[str, str]] = {
    # AccountType -> (Classification, default AccountSubType)
    "Bank": ("Asset", "Checking"),
    "Other Current Asset": ("Asset", "OtherCurrentAssets"),
    "Fixed Asset": ("Asset", "OtherFixedAssets"),
    "Other Asset": ("Asset", "OtherLongTermAssets"),
    "Accounts Receivable": ("Asset", "AccountsReceivable"),
    "Equity": ("Equity", "OpeningBalanceEquity"),
    "Expense": ("Expense", "OtherMiscellaneousServiceCost"),
    "Other Expense": ("Expense", "OtherMiscellaneousExpense"),
    "Cost of Goods Sold": ("Expense", "SuppliesMaterialsCogs"),
    "Accounts Payable": ("Liability", "AccountsPayable"),
    "Credit Card": ("Liability", "CreditCard"),
    "Long Term Liability": ("Liability", "OtherLongTermLiabilities"),
    "Other Current Liability": ("Liability", "OtherCurrentLiabilities"),
    "Income": ("Revenue", "SalesOfProductIncome"),
    "Other Income": ("Revenue", "OtherMiscellaneousIncome"),
}
NAME_PARTS = ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix")
MAX_CUSTOMER_LEVEL = 4
# [U] widely observed: inactive people keep their record but lose their name to this suffix.
INACTIVE_NAME_SUFFIX = " (deleted)"
SELLABLE_TYPES = frozenset({"Service", "NonInventory", "Inventory"})


def prepare(company: Company, spec: Spec, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
    """Validate a name-list object and fill the fields QBO derives."""
    obj.pop("FullyQualifiedName", None)
    if spec.name in ("Customer", "Vendor", "Employee"):
        _person(company, spec, obj, old)
    elif spec.name == "Item":
        _item(company, obj)
    elif spec.name == "Account":
        _account(obj)
    elif spec.name == "CompanyCurrency":
        other.prepare_currency(company, obj, old)
    elif spec.name in ("Class", "Department"):
        _tracked_list(company, spec)
    common.validate_common(company, spec, obj)
    if spec.hierarchical:
        _hierarchy(company, spec, obj)
    obj.setdefault("Active", True)
    common.check_unique_name(company, spec, obj, index_key(spec, obj))


def _person(company: Company, spec: Spec, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
    if not obj.get("DisplayName"):
        if old is not None and obj.get("sparse"):
            raise faults.required("DisplayName")
        parts = [str(obj[p]).strip() for p in NAME_PARTS if obj.get(p)]
        if not parts:
            raise faults.required("DisplayName")
        obj["DisplayName"] = " ".join(parts)
    for element in ("DisplayName", "GivenName", "MiddleName", "FamilyName"):
        common.check_name_chars(element, obj.get(element))
    common.check_email(obj)
    if not obj.get("PrintOnCheckName"):
        obj["PrintOnCheckName"] = str(obj["DisplayName"])[:110]
    if not obj.get("CurrencyRef"):
        obj["CurrencyRef"] = {"value": company.home_currency}
    elif old is not None and old.get("CurrencyRef", {}).get("value") != obj["CurrencyRef"].get("value"):
        raise faults.business("You can't change the currency of a customer or vendor after it has been used.")
    _opening_balance(spec, obj, old)
    for blank in ("PreferredDeliveryMethod", "OpenBalanceDate"):
        if obj.get(blank) == "":
            del obj[blank]
    _inactive_name(obj, old)


def _inactive_name(obj: dict[str, Any], old: dict[str, Any] | None) -> None:
    """An inactive customer/vendor becomes "<name> (deleted)", freeing the name; reactivation undoes it."""
    name = str(obj["DisplayName"])
    if old is not None and old.get("Active", True) and obj.get("Active") is False:
        if not name.endswith(INACTIVE_NAME_SUFFIX):
            obj["DisplayName"] = name + INACTIVE_NAME_SUFFIX
    elif obj.get("Active", True) and name.endswith(INACTIVE_NAME_SUFFIX) and old is not None:
        obj["DisplayName"] = name[: -len(INACTIVE_NAME_SUFFIX)]


def _opening_balance(spec: Spec, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
    if spec.name == "Employee":
        return
    if old is None:
        opening = money.parse(obj.get("Balance"), "Balance") or money.ZERO
        obj["Balance"] = money.q2(opening)
    else:
        obj["Balance"] = old.get("Balance", money.ZERO)
    if spec.name == "Customer":
        obj["BalanceWithJobs"] = old.get("BalanceWithJobs", obj["Balance"]) if old else obj["Balance"]


def _item(company: Company, obj: dict[str, Any]) -> None:
    kind = obj.get("Type")
    if kind == "Inventory":
        common.require_edition(company, "inventory")
        for name in ("AssetAccountRef", "InvStartDate"):
            if common.is_blank(obj.get(name)):
                raise faults.required(name)
        obj["TrackQtyOnHand"] = True
        obj.setdefault("QtyOnHand", 0)
    if kind in SELLABLE_TYPES and common.is_blank(obj.get("IncomeAccountRef")):
        raise faults.required("IncomeAccountRef")
    if (
        kind in SELLABLE_TYPES
        and not company.is_us
        and company.country in ("GB", "CA")
        and common.is_blank(obj.get("ExpenseAccountRef"))
    ):
        raise faults.required("ExpenseAccountRef")
    if kind == "Inventory" and common.is_blank(obj.get("ExpenseAccountRef")):
        raise faults.required("ExpenseAccountRef")
    common.check_name_chars("Name", obj.get("Name"))
    for field in ("UnitPrice", "PurchaseCost", "QtyOnHand"):
        if field in obj:
            parsed = money.parse(obj[field], field)
            if parsed is None:
                del obj[field]
            else:
                obj[field] = parsed


def _account(obj: dict[str, Any]) -> None:
    name = obj.get("Name")
    if not name:
        raise faults.required("Name")
    if isinstance(name, str) and any(c in name for c in ':"'):
        raise faults.QboError(
            "2050", "Invalid character", "Name cannot contain a colon or double quote.", "Name"
        )
    kind = obj.get("AccountType")
    if not kind:
        if not obj.get("AccountSubType"):
            raise faults.required("AccountType")
        kind = obj["AccountType"] = _type_of_subtype(str(obj["AccountSubType"]))
    if kind not in ACCOUNT_TYPES:
        raise faults.invalid_enum("AccountType", kind)
    classification, subtype = ACCOUNT_TYPES[str(kind)]
    obj["Classification"] = classification
    obj.setdefault("AccountSubType", subtype)
    obj.setdefault("CurrentBalance", 0)
    obj.setdefault("CurrentBalanceWithSubAccounts", 0)


def _type_of_subtype(subtype: str) -> str:
    for kind, (_, default_subtype) in ACCOUNT_TYPES.items():
        if default_subtype == subtype:
            return kind
    raise faults.invalid_enum("AccountSubType", subtype)


def _tracked_list(company: Company, spec: Spec) -> None:
    if spec.name == "Class" and company.class_tracking == "off":
        raise faults.business(common.CLASS_OFF_TEXT)
    if spec.name == "Department" and not company.track_departments:
        raise faults.business(common.LOCATION_OFF_TEXT)


def _hierarchy(company: Company, spec: Spec, obj: dict[str, Any]) -> None:
    parent_ref = obj.get("ParentRef")
    if not isinstance(parent_ref, dict) or not parent_ref.get("value"):
        obj.pop("ParentRef", None)
        obj["FullyQualifiedName"] = str(obj.get(spec.name_field or "Name"))
        obj["Level"] = 0
        if spec.name == "Customer":
            obj["Job"] = False
        return
    parent = company.table(spec.name)[str(parent_ref["value"])]
    if str(parent_ref["value"]) == obj.get("Id"):
        raise faults.invalid_ref("ParentRef")
    obj["Level"] = int(parent.get("Level", 0)) + 1
    if obj["Level"] > MAX_CUSTOMER_LEVEL:
        raise faults.business("You can only have up to 5 levels of sub-items.", "ParentRef")
    obj["FullyQualifiedName"] = f"{parent.get('FullyQualifiedName', '')}:{obj.get(spec.name_field or 'Name')}"
    if spec.name == "Customer":
        obj["Job"] = True
        obj.setdefault("BillWithParent", False)
        if obj.get("IsProject"):
            common.require_edition(company, "projects")
    elif spec.name == "Item":
        obj["SubItem"] = True
    else:
        obj["Sub" + spec.name] = True
