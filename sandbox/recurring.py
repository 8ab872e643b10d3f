"""RecurringTransaction: a scheduled template of one transaction, wrapped as `{"Invoice": {...}}`."""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from typing import Any

from sandbox import faults, ops, store
from sandbox.clock import today
from sandbox.ops import Change
from sandbox.query import Query, QueryResult, run
from sandbox.rules import common
from sandbox.state import Company

ENTITY = "RecurringTransaction"
TEMPLATES = frozenset(
    {
        "Bill",
        "Purchase",
        "CreditMemo",
        "Deposit",
        "Estimate",
        "Invoice",
        "JournalEntry",
        "RefundReceipt",
        "SalesReceipt",
        "Transfer",
        "VendorCredit",
        "PurchaseOrder",
    }
)
RECUR_TYPES = frozenset({"Automated", "Reminded", "UnScheduled"})
INTERVALS = frozenset({"Daily", "Weekly", "Monthly", "Yearly"})
# [U] Simple Start has no recurring transactions (Intuit: "available in Essentials and Plus").
EDITIONS_WITHOUT = frozenset({"simple_start"})
# [U] wording for rules Intuit documents without quoting the message.
EDITION_TEXT = "Recurring transactions aren't available in your QuickBooks Online subscription."
ONE_TEMPLATE_TEXT = "A recurring transaction holds exactly one transaction ({kinds})."
NAME_TAKEN_TEXT = "Another recurring transaction already uses the name {name}."
END_BEFORE_START_TEXT = "The end date must be after the start date."
TEMPLATE_NUMBERS = ("DocNumber",)  # a template is numbered when each transaction is created


def _template(payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    kinds = [k for k in payload if k in TEMPLATES and isinstance(payload[k], dict)]
    if len(kinds) != 1:
        raise faults.business(ONE_TEMPLATE_TEXT.format(kinds=", ".join(sorted(TEMPLATES))))
    return kinds[0], payload[kinds[0]]


def _check_info(company: Company, info: object, own_id: str | None) -> dict[str, Any]:
    if not isinstance(info, dict) or not info:
        raise faults.required("RecurringInfo")
    name = str(info.get("Name") or "").strip()
    if not name:
        raise faults.required("RecurringInfo.Name")
    for other_id, wrapper in company.table(ENTITY).items():
        other = next(iter(wrapper.values()))
        if other_id != own_id and str(other["RecurringInfo"]["Name"]).lower() == name.lower():
            raise faults.business(NAME_TAKEN_TEXT.format(name=name), "RecurringInfo.Name")
    recur = info.setdefault("RecurType", "Automated")
    if recur not in RECUR_TYPES:
        raise faults.invalid_enum("RecurringInfo.RecurType", recur)
    info.setdefault("Active", True)
    schedule = info.get("ScheduleInfo")
    if recur == "UnScheduled":
        return info
    if not isinstance(schedule, dict):
        raise faults.required("RecurringInfo.ScheduleInfo")
    if schedule.get("IntervalType") not in INTERVALS:
        raise faults.invalid_enum("RecurringInfo.ScheduleInfo.IntervalType", schedule.get("IntervalType"))
    schedule["NumInterval"] = max(1, int(schedule.get("NumInterval") or 1))
    start = schedule.get("StartDate") or today(company.tz).isoformat()
    schedule["StartDate"] = str(start)[:10]
    end = schedule.get("EndDate")
    if end and str(end)[:10] < schedule["StartDate"]:
        raise faults.business(END_BEFORE_START_TEXT, "RecurringInfo.ScheduleInfo.EndDate")
    schedule.setdefault("NextDate", schedule["StartDate"])
    return info


def _validated(company: Company, kind: str, body: dict[str, Any], own_id: str | None) -> dict[str, Any]:
    if company.edition in EDITIONS_WITHOUT:
        raise faults.business(EDITION_TEXT)
    obj = {k: copy.deepcopy(v) for k, v in body.items() if k not in ops.SERVER_FIELDS}
    info = _check_info(company, obj.pop("RecurringInfo", None), own_id)
    for name in TEMPLATE_NUMBERS:
        obj.pop(name, None)
    # The template obeys its transaction's rules, but books nothing until a transaction is made from it.
    ops.prepare_template(company, ops.spec_for(kind), obj)
    for name in TEMPLATE_NUMBERS:
        obj.pop(name, None)
    obj["RecurringInfo"] = info
    return obj


def create(company: Company, payload: dict[str, Any], changes: list[Change]) -> dict[str, Any]:
    kind, body = _template(payload)
    obj = _validated(company, kind, body, None)
    now = time.time()
    obj["Id"], obj["SyncToken"] = company.new_id(ENTITY), "0"
    store.stamp(company, obj, created=now, updated=now)
    return _save(company, kind, obj, "Create", changes)


def _current(company: Company, payload: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    kind, body = _template(payload)
    obj_id = str(body.get("Id") or "")
    if not obj_id:
        raise faults.required("Id")
    wrapper = company.table(ENTITY).get(obj_id)
    if wrapper is None or kind not in wrapper:
        raise faults.not_found(ENTITY, obj_id)
    old = wrapper[kind]
    if common.is_blank(body.get("SyncToken")) or body.get("SyncToken") is None:
        raise faults.required("SyncToken")
    if str(body["SyncToken"]) != old["SyncToken"]:
        raise faults.stale()
    return kind, body, old


def update(company: Company, payload: dict[str, Any], changes: list[Change]) -> dict[str, Any]:
    kind, body, old = _current(company, payload)
    if body.get("sparse") in (True, "true"):
        body = {**old, **body}
    obj = _validated(company, kind, body, old["Id"])
    now = time.time()
    obj["Id"], obj["SyncToken"] = old["Id"], str(int(old["SyncToken"]) + 1)
    store.stamp(company, obj, created=now, updated=now)
    obj["MetaData"]["CreateTime"] = old["MetaData"]["CreateTime"]
    return _save(company, kind, obj, "Update", changes)


def delete(company: Company, payload: dict[str, Any], changes: list[Change]) -> dict[str, Any]:
    kind, _, old = _current(company, payload)
    del company.table(ENTITY)[old["Id"]]
    company.updated_at.pop((ENTITY, old["Id"]), None)
    changes.append(Change(ENTITY, old["Id"], "Delete"))
    return {kind: {"status": "Deleted", "domain": "QBO", "Id": old["Id"]}}


def _save(
    company: Company, kind: str, obj: dict[str, Any], operation: str, changes: list[Change]
) -> dict[str, Any]:
    wrapper = {kind: obj}
    company.table(ENTITY)[obj["Id"]] = wrapper
    company.updated_at[(ENTITY, obj["Id"])] = time.time()
    changes.append(Change(ENTITY, obj["Id"], operation))
    return wrapper


def write(
    company: Company, payload: dict[str, Any], *, operation: str | None, changes: list[Change]
) -> tuple[dict[str, Any], str]:
    """POST /recurringtransaction: create, update (Id + SyncToken) or delete (operation=delete)."""
    if operation == "delete":
        return delete(company, payload, changes), "delete"
    _, body = _template(payload)
    if body.get("Id") not in (None, "") or operation == "update":
        return update(company, payload, changes), "update"
    return create(company, payload, changes), "create"


def query(company: Company, parsed: Query) -> QueryResult:
    """Queries see each template's own fields and its `Type`; answers are the wrapped templates."""
    wrappers = company.table(ENTITY)
    views = [{**inner, "Type": kind} for wrapper in wrappers.values() for kind, inner in wrapper.items()]
    found = run(parsed, views)
    rows: list[Mapping[str, Any]] = [wrappers[str(row["Id"])] for row in found.rows]
    return QueryResult(rows, found.total_count, found.start_position, found.max_results)
