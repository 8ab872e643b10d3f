"""Persistence primitives on a Company: ids, SyncToken, MetaData, name and DocNumber indexes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sandbox.clock import meta_time
from sandbox.specs import NAME_LIST_PEOPLE, SPECS, Spec
from sandbox.state import Company

# Called after every committed change: (company, entity, id, operation, epoch).
ChangeListener = Callable[[Company, str, str, str, float], None]


def name_key(value: str) -> str:
    # QBO compares names case-insensitively and ignores surrounding blanks.
    return value.strip().lower()


def full_name(company: Company, spec: Spec, obj: dict[str, Any]) -> str:
    own = str(obj.get(spec.name_field or "Name", ""))
    parent_ref = obj.get("ParentRef")
    if spec.hierarchical and isinstance(parent_ref, dict):
        parent = company.table(spec.name).get(str(parent_ref.get("value")))
        if parent is not None:
            return f"{parent.get('FullyQualifiedName', '')}:{own}"
    return own


def index_key(spec: Spec, obj: dict[str, Any]) -> str:
    """The unique-name key: DisplayName for people (one space), else the full hierarchical name."""
    own = str(obj.get(spec.name_field or "Name", ""))
    if spec.name_space == NAME_LIST_PEOPLE:
        return name_key(own)
    return name_key(str(obj.get("FullyQualifiedName") or own))


def index_names(company: Company, spec: Spec, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
    if spec.name_space is None:
        return
    index = company.name_index(spec.name_space)
    if old is not None:
        key = index_key(spec, old)
        if index.get(key) == f"{spec.name}:{old['Id']}":
            del index[key]
    index[index_key(spec, obj)] = f"{spec.name}:{obj['Id']}"


def index_doc_number(company: Company, entity: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
    numbers = company.doc_numbers.setdefault(entity, {})
    if old is not None and old.get("DocNumber"):
        key = str(old["DocNumber"]).lower()
        numbers[key] = numbers.get(key, 1) - 1
        if numbers[key] <= 0:
            del numbers[key]
    doc = obj.get("DocNumber")
    if doc:
        key = str(doc).lower()
        numbers[key] = numbers.get(key, 0) + 1
        if str(doc).isdigit():
            company.last_doc_number[entity] = max(company.last_doc_number.get(entity, 0), int(doc))


def stamp(company: Company, obj: dict[str, Any], *, created: float, updated: float) -> None:
    tz = company.tz
    obj["domain"] = "QBO"
    obj["sparse"] = False
    updated_text = meta_time(updated, tz)
    created_text = updated_text if created == updated else meta_time(created, tz)
    obj["MetaData"] = {"CreateTime": created_text, "LastUpdatedTime": updated_text}


def insert(
    company: Company, entity: str, obj: dict[str, Any], *, obj_id: str | None = None
) -> dict[str, Any]:
    """Store a new object: Id, SyncToken "0", MetaData, indexes."""
    spec = SPECS[entity]
    now = time.time()
    obj["Id"] = obj_id or company.new_id(entity)
    obj["SyncToken"] = "0"
    stamp(company, obj, created=now, updated=now)
    if spec.hierarchical or spec.name_space:
        if spec.hierarchical:
            obj["FullyQualifiedName"] = full_name(company, spec, obj)
        index_names(company, spec, obj, None)
    if "DocNumber" in obj or spec.doc_numbers:
        index_doc_number(company, entity, obj, None)
    company.table(entity)[obj["Id"]] = obj
    company.updated_at[(entity, obj["Id"])] = now
    return obj


def replace(company: Company, entity: str, old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Store a new version of an existing object; SyncToken + 1, CreateTime kept."""
    spec = SPECS[entity]
    now = time.time()
    new["Id"] = old["Id"]
    new["SyncToken"] = str(int(old.get("SyncToken", "0")) + 1)
    created = old.get("MetaData", {}).get("CreateTime")
    stamp(company, new, created=now, updated=now)
    if created:
        new["MetaData"]["CreateTime"] = created
    if spec.hierarchical:
        new["FullyQualifiedName"] = full_name(company, spec, new)
    if spec.name_space:
        index_names(company, spec, new, old)
    if "DocNumber" in new or "DocNumber" in old:
        index_doc_number(company, entity, new, old)
    company.table(entity)[new["Id"]] = new
    company.updated_at[(entity, new["Id"])] = now
    return new


def remove(company: Company, entity: str, old: dict[str, Any]) -> dict[str, Any]:
    """Hard delete; leaves the stub CDC reports."""
    now = time.time()
    company.table(entity).pop(old["Id"], None)
    company.updated_at.pop((entity, old["Id"]), None)
    if old.get("DocNumber"):
        index_doc_number(company, entity, {}, old)
    stub = {
        "domain": "QBO",
        "status": "Deleted",
        "Id": old["Id"],
        "MetaData": {"LastUpdatedTime": meta_time(now, company.tz)},
    }
    company.deleted.setdefault(entity, {})[old["Id"]] = (now, stub)
    return stub


def ref(obj: dict[str, Any], name_field: str = "DisplayName") -> dict[str, str]:
    out = {"value": str(obj["Id"])}
    name = obj.get("FullyQualifiedName") or obj.get(name_field) or obj.get("Name")
    if name:
        out["name"] = str(name)
    return out
