"""What each /v3 resource does once the gateway let the call through (no HTTP here)."""

from __future__ import annotations

import hashlib
import json
import time
from decimal import Decimal
from typing import Any

from sandbox import faults, ops, query, rates, recurring, store
from sandbox.clock import meta_time, parse_instant, qbo_time
from sandbox.faults import QboError
from sandbox.ops import Change
from sandbox.specs import CDC_UNSUPPORTED, SPECS, URL_SEGMENTS
from sandbox.state import REPLAY_RETENTION_SECONDS, Company

MAX_BATCH_ITEMS = 30
CDC_MAX_DAYS = 30
CDC_MAX_OBJECTS = 1000
QUERYABLE = frozenset(SPECS)
# [U] codes/wording for limits Intuit documents without quoting the error.
BATCH_TOO_LARGE = f"Number of items in the batch request exceeds the maximum of {MAX_BATCH_ITEMS}."
CDC_TOO_OLD = f"changedSince cannot be older than {CDC_MAX_DAYS} days."
WRITABLE_PREFS = frozenset(
    {
        "AccountingInfoPrefs",
        "SalesFormsPrefs",
        "VendorAndPurchasesPrefs",
        "ProductAndServicesPrefs",
        "TaxPrefs",
        "TimeTrackingPrefs",
        "OtherPrefs",
        "EmailMessagesPrefs",
        "ReportPrefs",
    }
)
# [U] QBO only links invoices with a customer e-mail address; the link's host is Intuit's.
INVOICE_LINK_NEEDS_EMAIL = True
INVOICE_LINK = "https://connect.intuit.com/portal/app/CommerceNetwork/view/scs-v1-{token}"
# Emulated but not by CDC: [U] for these two, which Intuit's CDC list does not mention.
CDC_NOT_EMULATED = frozenset({"ExchangeRate", "RecurringTransaction"})
# [U] Fields of a writable section QBO keeps to itself (set by Intuit or by the subscription); ignored.
READ_ONLY_PREFS: dict[str, frozenset[str]] = {
    "TaxPrefs": frozenset({"UsingSalesTax", "PartnerTaxEnabled"}),
    "ProductAndServicesPrefs": frozenset({"QuantityOnHand"}),
    "SalesFormsPrefs": frozenset({"ETransactionEnabledStatus", "IPNSupportEnabled"}),
}
# The key QBO answers an entity under where it differs from the entity's name (python-quickbooks
# reads CreditCardPayment from "CreditCardPaymentTxn": "JSON object name doesn't match the endpoint").
WIRE_NAMES = {"CreditCardPayment": "CreditCardPaymentTxn"}
PDF_BYTES = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Count 0>>endobj\n%%EOF\n"
)


def entity_name(segment: str) -> str:
    name = URL_SEGMENTS.get(segment.lower())
    if name is None:
        raise QboError("404", "Unsupported Operation", f"Unsupported entity: {segment}", "", status=404)
    return name


def wire_name(entity: str) -> str:
    return WIRE_NAMES.get(entity, entity)


def envelope(company: Company, entity: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {wire_name(entity): obj, "time": qbo_time(company.tz)}


def parse_body(raw: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(raw or b"{}", parse_float=Decimal)
    except UnicodeDecodeError:
        raise faults.unsupported("Unsupported Operation: the request is not valid UTF-8.") from None
    except ValueError as exc:
        raise faults.invalid_property("", f"Request has invalid or unsupported property: {exc}") from None
    if not isinstance(parsed, dict):
        raise faults.invalid_property("", "The request body must be a JSON object.")
    return parsed


def read(company: Company, entity: str, obj_id: str, *, include: str | None = None) -> dict[str, Any]:
    if entity == "CompanyInfo" and obj_id != company.realm_id:
        raise faults.not_found(entity, obj_id)
    found = company.table(entity).get(obj_id)
    if found is None:
        raise QboError("610", faults.MSG_NOT_FOUND, f"{faults.MSG_NOT_FOUND} : {faults.DETAIL_INACTIVE}", "")
    return envelope(company, entity, with_invoice_link(company, entity, found, include))


def with_invoice_link(
    company: Company, entity: str, obj: dict[str, Any], include: str | None
) -> dict[str, Any]:
    """`include=invoiceLink`: the customer-facing link of an invoice that has somewhere to be sent."""
    if entity != "Invoice" or "invoicelink" not in (include or "").lower().split(","):
        return obj
    if INVOICE_LINK_NEEDS_EMAIL and not (obj.get("BillEmail") or {}).get("Address"):
        return obj
    token = hashlib.sha256(f"{company.realm_id}:{obj['Id']}".encode()).hexdigest()[:40]
    return {**obj, "InvoiceLink": INVOICE_LINK.format(token=token)}


def pdf(company: Company, entity: str, obj_id: str) -> bytes:
    read(company, entity, obj_id)
    return PDF_BYTES


def run_query(company: Company, statement: str, *, include: str | None = None) -> dict[str, Any]:
    try:
        parsed = query.parse(statement, known_entities=QUERYABLE)
    except query.QueryError as exc:
        raise QboError(exc.code, exc.message, exc.detail, "") from None
    if parsed.entity == "ExchangeRate":
        rates.ensure_listed(company)
    if parsed.entity == "RecurringTransaction":
        return recurring.query(company, parsed).to_query_response(parsed.entity)
    result = query.run(parsed, company.table(parsed.entity).values())
    if include and parsed.entity == "Invoice":
        result.rows[:] = [with_invoice_link(company, "Invoice", dict(row), include) for row in result.rows]
    return result.to_query_response(wire_name(parsed.entity))


def query_response(company: Company, statement: str, *, include: str | None = None) -> dict[str, Any]:
    return {"QueryResponse": run_query(company, statement, include=include), "time": qbo_time(company.tz)}


def cdc(company: Company, *, entities: str, since: str) -> dict[str, Any]:
    if not entities:
        raise faults.required("entities")
    if not since:
        raise faults.required("changedSince")
    instant = parse_instant(since, company.tz)
    if instant is None:
        raise faults.invalid_property("changedSince", f"Invalid changedSince: {since}")
    if instant < time.time() - CDC_MAX_DAYS * 86_400:
        raise faults.invalid_property("changedSince", CDC_TOO_OLD)
    responses, budget = [], CDC_MAX_OBJECTS
    for written in entities.split(","):
        entity = URL_SEGMENTS.get(written.strip().lower())
        if entity is None or entity in CDC_UNSUPPORTED or entity in CDC_NOT_EMULATED or budget <= 0:
            continue
        rows = _changed(company, entity, instant)[:budget]
        budget -= len(rows)
        if rows:
            responses.append(
                {
                    wire_name(entity): rows,
                    "startPosition": 1,
                    "maxResults": len(rows),
                    "totalCount": len(rows),
                }
            )
    return {"CDCResponse": [{"QueryResponse": responses or [{}]}], "time": qbo_time(company.tz)}


def _changed(company: Company, entity: str, since: float) -> list[dict[str, Any]]:
    # QBO stamps seconds; compare at that precision so a change in the same second is included.
    floor = int(since)
    live = [
        obj
        for obj in company.table(entity).values()
        if int(company.updated_at.get((entity, obj["Id"]), 0)) >= floor
    ]
    gone = [stub for at, stub in company.deleted.get(entity, {}).values() if int(at) >= floor]
    return live + gone


def send(
    company: Company, entity: str, obj_id: str, send_to: str | None, changes: list[Change]
) -> dict[str, Any]:
    old = company.table(entity).get(obj_id)
    if old is None:
        raise faults.not_found(entity, obj_id)
    new = {k: v for k, v in old.items() if k not in ops.SERVER_FIELDS}
    if send_to:
        new["BillEmail"] = {"Address": send_to}
    if not (new.get("BillEmail") or {}).get("Address"):
        raise faults.required("BillEmail")
    new["EmailStatus"] = "EmailSent"
    new["DeliveryInfo"] = {"DeliveryType": "Email", "DeliveryTime": meta_time(time.time(), company.tz)}
    saved = store.replace(company, entity, old, new)
    changes.append(Change(entity, obj_id, "Emailed"))
    return envelope(company, entity, saved)


def operation_of(operation: str | None, include: str | None) -> str:
    if operation == "update" and include and "void" in include.split(","):
        return "void"
    return operation or "write"


def write(
    company: Company,
    entity: str,
    payload: dict[str, Any],
    *,
    operation: str | None,
    include: str | None,
    changes: list[Change],
) -> tuple[dict[str, Any], str]:
    """One create/update/delete/void; returns the response body and the operation performed."""
    options = set((include or "").lower().split(","))
    allow_duplicate = "allowduplicatedocnum" in options
    if operation == "delete" and entity == "RecurringTransaction":
        body, performed = recurring.write(company, payload, operation=operation, changes=changes)
        return envelope(company, entity, body), performed
    if operation == "delete":
        return envelope(company, entity, ops.delete(company, entity, payload, changes=changes)), "delete"
    if operation == "void":
        return envelope(
            company, entity, ops.void(company, entity, payload, style="operation", changes=changes)
        ), "void"
    if operation == "update" and "void" in options:
        return envelope(
            company, entity, ops.void(company, entity, payload, style="include", changes=changes)
        ), "void"
    if operation not in (None, "", "update", "create"):
        raise faults.unsupported(f"Unsupported operation: {operation}")
    if entity == "RecurringTransaction":
        body, performed = recurring.write(company, payload, operation=operation, changes=changes)
        return envelope(company, entity, body), performed
    if entity == "ExchangeRate":
        return envelope(company, entity, rates.update(company, payload)), "update"
    if SPECS[entity].kind == "singleton":
        return envelope(company, entity, update_singleton(company, entity, payload, changes)), "update"
    if payload.get("Id") not in (None, "") or operation == "update":
        saved = ops.update(company, entity, payload, allow_duplicate=allow_duplicate, changes=changes)
        return envelope(company, entity, saved), "update"
    return envelope(
        company,
        entity,
        ops.create(company, entity, payload, allow_duplicate=allow_duplicate, changes=changes),
    ), "create"


def update_singleton(
    company: Company, entity: str, payload: dict[str, Any], changes: list[Change]
) -> dict[str, Any]:
    """Preferences / CompanyInfo: always a merge of the writable parts."""
    obj_id = "1" if entity == "Preferences" else company.realm_id
    old = ops.current(company, entity, {**payload, "Id": payload.get("Id") or obj_id})
    new = {k: v for k, v in old.items() if k not in ops.SERVER_FIELDS}
    if entity == "CompanyInfo":
        for name in ("CompanyName", "CompanyAddr"):
            if not payload.get(name):
                raise faults.required(name)
        new.update({k: v for k, v in payload.items() if k not in ops.SERVER_FIELDS and k != "NameValue"})
    else:
        for section, values in payload.items():
            if section in WRITABLE_PREFS and isinstance(values, dict):
                fixed = READ_ONLY_PREFS.get(section, frozenset())
                new[section] = {**new.get(section, {}), **{k: v for k, v in values.items() if k not in fixed}}
        _sync_company_flags(company, new)
    saved = store.replace(company, entity, old, new)
    changes.append(Change(entity, saved["Id"], "Update"))
    return saved


def _sync_company_flags(company: Company, prefs: dict[str, Any]) -> None:
    from datetime import date

    info = prefs.get("AccountingInfoPrefs", {})
    company.custom_txn_numbers = bool(prefs.get("SalesFormsPrefs", {}).get("CustomTxnNumbers"))
    company.track_departments = bool(info.get("TrackDepartments"))
    if info.get("ClassTrackingPerTxnLine"):
        company.class_tracking = "per_line"
    elif info.get("ClassTrackingPerTxn"):
        company.class_tracking = "per_transaction"
    else:
        company.class_tracking = "off"
    close = info.get("BookCloseDate")
    company.book_close_date = date.fromisoformat(close[:10]) if close else None


def replayed(company: Company, requestid: str | None, *, key_extra: str) -> tuple[int, bytes] | None:
    if not requestid:
        return None
    found = company.replay.get(requestid)
    if found is None or found[0] < time.time() - REPLAY_RETENTION_SECONDS:
        return None
    stored_extra, status, body = found[1], found[2], found[3]
    return (status, body) if stored_extra == key_extra else None


def remember(company: Company, requestid: str | None, *, key_extra: str, status: int, body: bytes) -> None:
    if requestid:
        company.replay[requestid] = (time.time(), key_extra, status, body)


def batch_items(payload: dict[str, Any]) -> list[dict[str, Any]]:
    items = payload.get("BatchItemRequest")
    if not isinstance(items, list) or not items:
        raise faults.required("BatchItemRequest")
    if len(items) > MAX_BATCH_ITEMS:
        raise faults.invalid_property("BatchItemRequest", BATCH_TOO_LARGE)
    return [item if isinstance(item, dict) else {} for item in items]


def run_batch(
    company: Company, items: list[dict[str, Any]], changes: list[Change]
) -> tuple[dict[str, Any], list[dict[str, str | None]]]:
    responses, log_items = [], []
    for item in items:
        out, logged = _batch_item(company, item, changes)
        responses.append(out)
        log_items.append(logged)
    return {"BatchItemResponse": responses, "time": qbo_time(company.tz)}, log_items


def _batch_item(
    company: Company, item: dict[str, Any], changes: list[Change]
) -> tuple[dict[str, Any], dict[str, str | None]]:
    bid = item.get("bId")
    entity: str | None = None
    operation = str(item.get("operation") or "")
    try:
        if "Query" in item:
            operation = "query"
            return {"bId": bid, "QueryResponse": run_query(company, str(item["Query"]))}, {
                "bId": bid,
                "entity": None,
                "operation": "query",
                "fault_code": None,
            }
        entity = next((k for k in item if k in SPECS), None)
        if entity is None or not isinstance(item[entity], dict):
            raise faults.invalid_property("", "Batch item has no entity object")
        options = str(item.get("optionsData") or "")
        op_param = {"create": None, "update": "update", "delete": "delete"}.get(operation, operation)
        include = options if options else None
        body, performed = write(
            company, entity, item[entity], operation=op_param, include=include, changes=changes
        )
        return {"bId": bid, wire_name(entity): body[wire_name(entity)]}, {
            "bId": bid,
            "entity": entity,
            "operation": performed,
            "fault_code": None,
        }
    except QboError as error:
        return {"bId": bid, "Fault": error.fault()}, {
            "bId": bid,
            "entity": entity,
            "operation": operation,
            "fault_code": error.code,
        }
