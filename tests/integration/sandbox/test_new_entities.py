"""The round-two entities over HTTP: upload, exchange rates, recurring, invoice links, CDC and webhooks."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.integration.sandbox.conftest import Realm, make_realm

BOUNDARY = "sandboxBoundary42"


def multipart(meta: str, content: bytes, *, newline: str = "\r\n") -> bytes:
    encoded = base64.b64encode(content).decode()
    parts = [
        f"--{BOUNDARY}",
        'Content-Disposition: form-data; name="file_metadata_01"',
        "Content-Type: application/json",
        "",
        meta,
        f"--{BOUNDARY}",
        'Content-Disposition: form-data; name="file_content_01"; filename="receipt.txt"',
        "Content-Type: text/plain",
        "Content-Transfer-Encoding: base64",
        "",
        encoded,
        f"--{BOUNDARY}--",
        "",
    ]
    return newline.join(parts).encode()


async def upload(realm: Realm, body: bytes) -> httpx.Response:
    headers = {**realm.headers, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    return await realm.client.post(f"{realm.base}/upload", content=body, headers=headers)


async def test_upload_creates_an_attachable_linked_to_an_invoice(realm: Realm) -> None:
    meta = json.dumps(
        {
            "FileName": "receipt.txt",
            "ContentType": "text/plain",
            "AttachableRef": [{"EntityRef": {"type": "Invoice", "value": "1"}}],
        }
    )

    reply = await upload(realm, multipart(meta, b"paid in full"))

    assert reply.status_code == 200
    attachable = reply.json()["AttachableResponse"][0]["Attachable"]
    assert (attachable["FileName"], attachable["Size"], attachable["ContentType"]) == (
        "receipt.txt",
        12,
        "text/plain",
    )
    assert attachable["AttachableRef"][0]["EntityRef"]["value"] == "1"
    read = (await realm.get(f"/attachable/{attachable['Id']}")).json()["Attachable"]
    assert read["FileAccessUri"] == attachable["FileAccessUri"]


async def test_upload_with_bare_newlines_as_python_quickbooks_sends_it(realm: Realm) -> None:
    reply = await upload(realm, b"\n" + multipart('{"ContentType": "text/plain"}', b"x", newline="\n"))

    assert reply.json()["AttachableResponse"][0]["Attachable"]["FileName"] == "receipt.txt"


async def test_upload_naming_a_missing_object_answers_a_fault_for_that_file(realm: Realm) -> None:
    meta = '{"FileName": "a.txt", "AttachableRef": [{"EntityRef": {"type": "Invoice", "value": "99999"}}]}'

    reply = await upload(realm, multipart(meta, b"x"))

    assert reply.json()["AttachableResponse"][0]["Fault"]["Error"][0]["code"] == "2500"


async def test_upload_that_is_not_multipart_is_refused(realm: Realm) -> None:
    reply = await realm.post("/upload", {"FileName": "a.txt"})

    assert reply.status_code == 400
    assert reply.json()["Fault"]["Error"][0]["code"] == "500"


async def test_exchange_rate_is_read_by_currency_and_set_by_post(admin: httpx.AsyncClient) -> None:
    realm = await make_realm(admin, multicurrency=True)
    await realm.post("/companycurrency", {"Code": "EUR"})

    market = (await realm.get("/exchangerate", sourcecurrencycode="EUR")).json()["ExchangeRate"]
    await realm.post("/exchangerate", {"SourceCurrencyCode": "EUR", "Rate": 1.25, "AsOfDate": "2026-06-01"})
    set_rate = (await realm.get("/exchangerate", sourcecurrencycode="EUR", asofdate="2026-06-15")).json()

    assert market["TargetCurrencyCode"] == "USD"
    assert set_rate["ExchangeRate"]["Rate"] == 1.25
    listed = (await realm.get("/query", query="select * from ExchangeRate")).json()["QueryResponse"]
    assert {row["SourceCurrencyCode"] for row in listed["ExchangeRate"]} == {"EUR"}


async def test_recurring_transaction_round_trip(realm: Realm) -> None:
    info: dict[str, Any] = {"Name": f"Care {uuid.uuid4().hex[:6]}", "RecurType": "Automated"}
    info["ScheduleInfo"] = {
        "IntervalType": "Weekly",
        "NumInterval": 2,
        "DayOfWeek": "Monday",
        "StartDate": "2026-12-07",
    }
    line = {
        "Amount": 40,
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {"ItemRef": {"value": "1"}},
    }
    body = {"Invoice": {"CustomerRef": {"value": "2"}, "Line": [line], "RecurringInfo": info}}

    created = (await realm.post("/recurringtransaction", body)).json()["RecurringTransaction"]["Invoice"]
    read = (await realm.get(f"/recurringtransaction/{created['Id']}")).json()["RecurringTransaction"]
    listed = (await realm.get("/query", query="select * from RecurringTransaction")).json()["QueryResponse"]
    gone = await realm.post(
        "/recurringtransaction", {"Invoice": {"Id": created["Id"], "SyncToken": "0"}}, operation="delete"
    )

    assert read["Invoice"]["RecurringInfo"]["Name"] == info["Name"]
    assert [r["Invoice"]["Id"] for r in listed["RecurringTransaction"]] == [created["Id"]]
    assert gone.json()["RecurringTransaction"]["Invoice"]["status"] == "Deleted"


async def test_invoice_link_on_read_when_included(realm: Realm) -> None:
    line = {
        "Amount": 10,
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {"ItemRef": {"value": "1"}},
    }
    invoice = (
        await realm.post(
            "/invoice", {"CustomerRef": {"value": "1"}, "Line": [line], "BillEmail": {"Address": "a@b.co"}}
        )
    ).json()["Invoice"]

    read = (await realm.get(f"/invoice/{invoice['Id']}", include="invoiceLink")).json()["Invoice"]

    assert read["InvoiceLink"].startswith("https://")


async def test_new_entities_appear_in_cdc(realm: Realm) -> None:
    since = (datetime.now(UTC) - timedelta(seconds=2)).isoformat(timespec="seconds")
    expense = {
        "Amount": 12,
        "DetailType": "AccountBasedExpenseLineDetail",
        "AccountBasedExpenseLineDetail": {"AccountRef": {"value": "18"}},
    }
    await realm.post("/purchase", {"PaymentType": "Cash", "AccountRef": {"value": "1"}, "Line": [expense]})
    await realm.post(
        "/transfer", {"FromAccountRef": {"value": "1"}, "ToAccountRef": {"value": "2"}, "Amount": 5}
    )

    reply = (await realm.get("/cdc", entities="Purchase,Transfer,TimeActivity", changedSince=since)).json()

    groups = {next(k for k in g if k[0].isupper()) for g in reply["CDCResponse"][0]["QueryResponse"]}
    assert groups == {"Purchase", "Transfer"}


async def test_queries_with_not_equal_over_http(realm: Realm) -> None:
    reply = (await realm.get("/query", query="select * from Purchase where PaymentType != 'Check'")).json()

    assert [p["PaymentType"] for p in reply["QueryResponse"]["Purchase"]] == ["CreditCard"]


async def test_a_us_company_lists_tax_and_non_first(realm: Realm) -> None:
    reply = (await realm.get("/query", query="select * from TaxCode")).json()

    assert [c["Id"] for c in reply["QueryResponse"]["TaxCode"]][:2] == ["TAX", "NON"]


async def test_writing_preferences_keeps_read_only_fields(realm: Realm) -> None:
    prefs = (await realm.get("/preferences")).json()["Preferences"]
    body: dict[str, Any] = {
        "SyncToken": prefs["SyncToken"],
        "TimeTrackingPrefs": {"WorkWeekStartDate": "Sunday"},
        "CurrencyPrefs": {"MultiCurrencyEnabled": True},
    }

    saved = (await realm.post("/preferences", body)).json()["Preferences"]

    assert saved["TimeTrackingPrefs"]["WorkWeekStartDate"] == "Sunday"
    assert saved["CurrencyPrefs"]["MultiCurrencyEnabled"] is False
