"""Rules every entity shares: required fields, lengths, enums, references, names, features."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

from sandbox import faults
from sandbox.faults import QboError
from sandbox.specs import NAME_LIST_PEOPLE, SPECS, Spec
from sandbox.state import Company
from sandbox.store import name_key

PSEUDO_TAX_CODES = frozenset({"TAX", "NON"})
PSEUDO_ITEMS = frozenset({"SHIPPING_ITEM_ID", "GRATUITY_ITEM_ID"})
EDITIONS_WITH_ADVANCED_FEATURES = frozenset({"plus", "advanced"})
# [U] Exact wording/code QBO uses when a feature is off or outside the subscription.
CLASS_OFF_TEXT = "Class tracking is not turned on for this company. Turn it on in Account and Settings."
LOCATION_OFF_TEXT = "Location tracking is not turned on for this company. Turn it on in Account and Settings."
EDITION_TEXT = "This feature isn't available in your QuickBooks Online subscription ({feature})."
INVALID_EMAIL_CODE = "2210"


def values_at(obj: dict[str, Any], path: str) -> Iterator[tuple[str, Any]]:
    """(element, value) pairs for a dotted path; a `Line.` prefix walks every line."""
    if path.startswith("Line."):
        rest = path[5:]
        for line in obj.get("Line") or ():
            if isinstance(line, dict):
                for _, value in values_at(line, rest):
                    yield path, value
        return
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return
        node = node[part]
    yield path, node


def is_blank(value: object) -> bool:
    return (
        value is None
        or value == ""
        or value == []
        or (isinstance(value, dict) and not value.get("value") and "value" in value)
    )


def check_required(spec: Spec, obj: dict[str, Any]) -> None:
    for name in spec.required:
        if is_blank(obj.get(name)):
            raise faults.required(name)


@functools.cache
def _plan(spec_name: str, kind: str) -> dict[str, tuple[tuple[str, Any], ...]]:
    """A spec's lengths/enums/refs grouped by first path segment, so only present fields are walked."""
    table: Mapping[str, Any] = getattr(SPECS[spec_name], kind)
    grouped: dict[str, list[tuple[str, Any]]] = {}
    for path, rule in table.items():
        grouped.setdefault(path.partition(".")[0], []).append((path, rule))
    return {head: tuple(rules) for head, rules in grouped.items()}


def _rules_for(spec: Spec, kind: str, obj: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    plan = _plan(spec.name, kind)
    for head in obj.keys() & plan.keys():
        yield from plan[head]


def check_lengths(spec: Spec, obj: dict[str, Any]) -> None:
    for path, limit in _rules_for(spec, "lengths", obj):
        for element, value in values_at(obj, path):
            if isinstance(value, str) and len(value) > limit:
                raise faults.too_long(element, max_len=limit, supplied=len(value))


def check_enums(spec: Spec, obj: dict[str, Any]) -> None:
    for path, allowed in _rules_for(spec, "enums", obj):
        for element, value in values_at(obj, path):
            if value is not None and value not in allowed:
                raise faults.invalid_enum(element, value)


def check_email(obj: dict[str, Any], path: str = "PrimaryEmailAddr.Address") -> None:
    for element, value in values_at(obj, path):
        if isinstance(value, str) and value and ("@" not in value or "." not in value):
            raise QboError(
                INVALID_EMAIL_CODE,
                "Invalid Email Address format",
                "Email Address does not conform to the syntax rules of RFC 822",
                element,
            )


def check_refs(company: Company, spec: Spec, obj: dict[str, Any]) -> None:
    for path, target in _rules_for(spec, "refs", obj):
        for element, value in values_at(obj, path):
            if isinstance(value, dict):
                check_ref(company, target, element, value)


def check_ref(company: Company, target: str, element: str, ref: dict[str, Any]) -> None:
    value = ref.get("value")
    if value is None or value == "":
        return
    value = str(value)
    if (target == "TaxCode" and company.is_us and value in PSEUDO_TAX_CODES) or (
        target == "Item" and value in PSEUDO_ITEMS
    ):
        return
    found = company.table(target).get(value)
    if found is None:
        raise faults.invalid_ref(element)
    if found.get("Active") is False:
        raise faults.inactive_ref(element)
    if target == "Item" and found.get("Type") == "Category" and element.startswith("Line."):
        raise faults.invalid_ref(element, "Categories cannot be used in transactions.")


def check_unique_name(company: Company, spec: Spec, obj: dict[str, Any], key: str) -> None:
    if spec.name_space is None:
        return
    holder = company.name_index(spec.name_space).get(name_key(key))
    if holder is not None and holder != f"{spec.name}:{obj.get('Id')}":
        if spec.name_space == NAME_LIST_PEOPLE:
            raise faults.duplicate_name()
        raise faults.duplicate_item_name(spec.name.lower())


def check_name_chars(element: str, value: object) -> None:
    if isinstance(value, str) and any(c in value for c in ":\t\n"):
        raise QboError(
            "2050", "Invalid character", f"{element} cannot contain a colon, tab or newline.", element
        )


def check_features(company: Company, obj: dict[str, Any]) -> None:
    """ClassRef / DepartmentRef anywhere in the object need the matching tracking preference."""
    if company.class_tracking == "off" and _has_ref(obj, "ClassRef"):
        raise faults.business(CLASS_OFF_TEXT, "ClassRef")
    if not company.track_departments and _has_ref(obj, "DepartmentRef"):
        raise faults.business(LOCATION_OFF_TEXT, "DepartmentRef")


def _has_ref(obj: dict[str, Any], key: str) -> bool:
    if not is_blank(obj.get(key)) and obj.get(key) is not None:
        return True
    for line in obj.get("Line") or ():
        if isinstance(line, dict):
            for detail in line.values():
                if isinstance(detail, dict) and not is_blank(detail.get(key)) and detail.get(key) is not None:
                    return True
    return False


def require_edition(company: Company, feature: str) -> None:
    if company.edition not in EDITIONS_WITH_ADVANCED_FEATURES:
        raise faults.business(EDITION_TEXT.format(feature=feature))


def check_period(company: Company, txn_date: object) -> None:
    if company.book_close_date is None or not isinstance(txn_date, str) or not txn_date:
        return
    try:
        when = date.fromisoformat(txn_date[:10])
    except ValueError:
        raise QboError(
            "2010", "Request has invalid or unsupported property", f"Invalid date: {txn_date}", "TxnDate"
        ) from None
    if when <= company.book_close_date:
        raise faults.period_closed()


def validate_common(company: Company, spec: Spec, obj: dict[str, Any]) -> None:
    check_required(spec, obj)
    check_lengths(spec, obj)
    check_enums(spec, obj)
    check_features(company, obj)
    check_refs(company, spec, obj)
