"""The Accounting API over HTTP: envelopes, faults, query, batch, CDC, requestid, fault injection."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.integration.sandbox.conftest import Realm, make_realm


def invoice_body(customer_id: str, amount: float = 100.0, **extra: Any) -> dict[str, Any]:
    return {
        "CustomerRef": {"value": customer_id},
        "Line": [
            {
                "Amount": amount,
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": {"ItemRef": {"value": "1"}},
            }
        ],
        **extra,
    }


async def new_customer(realm: Realm) -> dict[str, Any]:
    reply = await realm.post("/customer", {"DisplayName": f"C {uuid.uuid4().hex[:8]}"})
    customer: dict[str, Any] = reply.json()["Customer"]
    return customer


async def test_create_returns_envelope_with_server_fields(realm: Realm) -> None:
    reply = await realm.post("/customer", {"DisplayName": "Envelope Co"})
    body = reply.json()
    assert reply.status_code == 200
    assert "time" in body
    customer = body["Customer"]
    assert customer["SyncToken"] == "0"
    assert customer["domain"] == "QBO"
    assert customer["sparse"] is False
    assert customer["Id"].isdigit()
    assert {"CreateTime", "LastUpdatedTime"} <= set(customer["MetaData"])
    assert reply.headers["intuit_tid"]


async def test_read_by_id_and_unknown_id_is_610(realm: Realm) -> None:
    customer = await new_customer(realm)
    assert (await realm.get(f"/customer/{customer['Id']}")).json()["Customer"]["Id"] == customer["Id"]
    missing = await realm.get("/customer/999999")
    assert missing.status_code == 400
    assert missing.json()["Fault"]["Error"][0]["code"] == "610"


async def test_duplicate_name_fault_has_qbo_shape(realm: Realm) -> None:
    await realm.post("/customer", {"DisplayName": "Twin"})
    reply = await realm.post("/customer", {"DisplayName": "Twin"})
    fault = reply.json()["Fault"]
    assert reply.status_code == 400
    assert fault["type"] == "ValidationFault"
    assert fault["Error"][0]["code"] == "6240"
    assert fault["Error"][0]["Message"] == "Duplicate Name Exists Error"


async def test_sparse_update_then_stale_token_is_5010(realm: Realm) -> None:
    customer = await new_customer(realm)
    update = {"Id": customer["Id"], "SyncToken": "0", "sparse": True, "Notes": "hi"}
    first = await realm.post("/customer", update)
    assert first.json()["Customer"]["SyncToken"] == "1"
    assert first.json()["Customer"]["DisplayName"] == customer["DisplayName"]
    stale = await realm.post("/customer", update, operation="update")
    assert stale.json()["Fault"]["Error"][0]["code"] == "5010"


async def test_delete_returns_deleted_status(realm: Realm) -> None:
    customer = await new_customer(realm)
    inv = (await realm.post("/invoice", invoice_body(customer["Id"]))).json()["Invoice"]
    reply = await realm.post("/invoice", {"Id": inv["Id"], "SyncToken": inv["SyncToken"]}, operation="delete")
    assert reply.json()["Invoice"] == {"status": "Deleted", "domain": "QBO", "Id": inv["Id"]}
    assert (await realm.get(f"/invoice/{inv['Id']}")).status_code == 400


async def test_void_invoice_and_void_payment_via_include(realm: Realm) -> None:
    customer = await new_customer(realm)
    inv = (await realm.post("/invoice", invoice_body(customer["Id"]))).json()["Invoice"]
    voided = (await realm.post("/invoice", {"Id": inv["Id"], "SyncToken": "0"}, operation="void")).json()
    assert voided["Invoice"]["TotalAmt"] == 0
    assert voided["Invoice"]["PrivateNote"].startswith("Voided")
    payment = (await realm.post("/payment", {"CustomerRef": {"value": customer["Id"]}, "TotalAmt": 5})).json()
    reply = await realm.post(
        "/payment",
        {"Id": payment["Payment"]["Id"], "SyncToken": "0", "sparse": True},
        operation="update",
        include="void",
    )
    assert reply.json()["Payment"]["TotalAmt"] == 0


async def test_allowduplicatedocnum_lets_a_number_repeat(realm: Realm) -> None:
    customer = await new_customer(realm)
    await realm.post("/invoice", invoice_body(customer["Id"], DocNumber="D-1"))
    refused = await realm.post("/invoice", invoice_body(customer["Id"], DocNumber="D-1"))
    allowed = await realm.post(
        "/invoice", invoice_body(customer["Id"], DocNumber="D-1"), include="allowduplicatedocnum"
    )
    assert refused.json()["Fault"]["Error"][0]["code"] == "6140"
    assert allowed.status_code == 200


async def test_query_get_and_post_application_text(realm: Realm) -> None:
    customer = await new_customer(realm)
    statement = f"select * from Customer where DisplayName = '{customer['DisplayName']}'"
    by_get = (await realm.get("/query", query=statement)).json()
    by_post = await realm.client.post(
        realm.base + "/query",
        content=statement,
        params={"minorversion": "75"},
        headers={**realm.headers, "Content-Type": "application/text"},
    )
    assert by_get["QueryResponse"]["Customer"][0]["Id"] == customer["Id"]
    assert by_post.json()["QueryResponse"]["Customer"][0]["Id"] == customer["Id"]


async def test_bad_query_is_4000(realm: Realm) -> None:
    reply = await realm.get("/query", query="select * from Customer where DisplayName = 'Adam's'")
    assert reply.status_code == 400
    assert reply.json()["Fault"]["Error"][0]["code"] == "4000"


async def test_companyinfo_reports_offering_sku(admin: httpx.AsyncClient) -> None:
    realm = await make_realm(admin, edition="advanced")
    info = (await realm.get(f"/companyinfo/{realm.realm_id}")).json()["CompanyInfo"]
    skus = [nv["Value"] for nv in info["NameValue"] if nv["Name"] == "OfferingSku"]
    assert skus == ["QuickBooks Online Advanced"]


async def test_preferences_read_and_update_custom_numbers(realm: Realm) -> None:
    prefs = (await realm.get("/preferences")).json()["Preferences"]
    assert prefs["SalesFormsPrefs"]["CustomTxnNumbers"] is False
    reply = await realm.post(
        "/preferences",
        {
            "Id": "1",
            "SyncToken": prefs["SyncToken"],
            "sparse": True,
            "SalesFormsPrefs": {"CustomTxnNumbers": True},
        },
    )
    assert reply.json()["Preferences"]["SalesFormsPrefs"]["CustomTxnNumbers"] is True
    customer = await new_customer(realm)
    assert "DocNumber" not in (await realm.post("/invoice", invoice_body(customer["Id"]))).json()["Invoice"]


async def test_requestid_replays_the_original_response_without_a_second_write(
    realm: Realm, admin: httpx.AsyncClient
) -> None:
    customer = await new_customer(realm)
    rid = uuid.uuid4().hex
    first = await realm.post("/invoice", invoice_body(customer["Id"]), requestid=rid)
    second = await realm.post("/invoice", invoice_body(customer["Id"]), requestid=rid)
    assert first.content == second.content
    stored = (await admin.get(f"/admin/companies/{realm.realm_id}/entities/Invoice")).json()
    assert len([i for i in stored if i["CustomerRef"]["value"] == customer["Id"]]) == 1


async def test_minorversion_values_are_accepted(realm: Realm) -> None:
    for version in ("4", "75", "99"):
        reply = await realm.client.get(
            f"{realm.base}/companyinfo/{realm.realm_id}",
            params={"minorversion": version},
            headers=realm.headers,
        )
        assert reply.status_code == 200


async def test_batch_mixes_successes_faults_and_queries_in_http_200(realm: Realm) -> None:
    customer = await new_customer(realm)
    items = [
        {"bId": "b1", "operation": "create", "Customer": {"DisplayName": f"Batch {uuid.uuid4().hex[:6]}"}},
        {"bId": "b2", "operation": "create", "Customer": {"DisplayName": customer["DisplayName"]}},
        {"bId": "b3", "Query": "select * from Term"},
        {"bId": "b4", "operation": "create", "Invoice": invoice_body(customer["Id"])},
    ]
    reply = await realm.post("/batch", {"BatchItemRequest": items})
    assert reply.status_code == 200
    by_id = {r["bId"]: r for r in reply.json()["BatchItemResponse"]}
    assert by_id["b1"]["Customer"]["Id"]
    assert by_id["b2"]["Fault"]["Error"][0]["code"] == "6240"
    assert len(by_id["b3"]["QueryResponse"]["Term"]) == 4
    assert by_id["b4"]["Invoice"]["TotalAmt"] == 100


async def test_batch_over_thirty_items_is_refused(realm: Realm) -> None:
    items = [{"bId": f"b{i}", "Query": "select * from Term"} for i in range(31)]
    reply = await realm.post("/batch", {"BatchItemRequest": items})
    assert reply.status_code == 400
    assert "Fault" in reply.json()


async def test_cdc_returns_changes_and_deleted_stubs(realm: Realm) -> None:
    since = (datetime.now(UTC) - timedelta(seconds=2)).isoformat(timespec="seconds")
    customer = await new_customer(realm)
    inv = (await realm.post("/invoice", invoice_body(customer["Id"]))).json()["Invoice"]
    await realm.post("/invoice", {"Id": inv["Id"], "SyncToken": "0"}, operation="delete")
    reply = (await realm.get("/cdc", entities="Invoice,Customer", changedSince=since)).json()
    groups = {next(k for k in g if k[0].isupper()): g for g in reply["CDCResponse"][0]["QueryResponse"]}
    assert {"status": "Deleted", "domain": "QBO", "Id": inv["Id"]}.items() <= groups["Invoice"]["Invoice"][
        0
    ].items()
    assert customer["Id"] in {c["Id"] for c in groups["Customer"]["Customer"]}


async def test_cdc_older_than_thirty_days_is_refused(realm: Realm) -> None:
    since = (datetime.now(UTC) - timedelta(days=31)).isoformat(timespec="seconds")
    reply = await realm.get("/cdc", entities="Invoice", changedSince=since)
    assert reply.status_code == 400
    assert "Fault" in reply.json()


async def test_injected_errors_are_500_system_faults_and_logged(
    realm: Realm, admin: httpx.AsyncClient
) -> None:
    await admin.put("/admin/faults", json={"realm_id": realm.realm_id, "error_rate": 1.0})
    try:
        reply = await realm.get(f"/companyinfo/{realm.realm_id}")
    finally:
        await admin.delete("/admin/faults", params={"realm_id": realm.realm_id})
    assert reply.status_code == 500
    assert reply.json()["Fault"]["type"] == "SystemFault"
    assert reply.json()["Fault"]["Error"][0]["code"] == "10000"
    log = (await admin.get("/admin/requests", params={"realm_id": realm.realm_id})).json()
    assert log[-1]["fault_code"] == "10000"
    assert log[-1]["status"] == 500


async def test_throttle_next_injects_429(realm: Realm, admin: httpx.AsyncClient) -> None:
    await admin.put("/admin/faults", json={"realm_id": realm.realm_id, "throttle_next": 1})
    try:
        throttled = await realm.get(f"/companyinfo/{realm.realm_id}")
        normal = await realm.get(f"/companyinfo/{realm.realm_id}")
    finally:
        await admin.delete("/admin/faults", params={"realm_id": realm.realm_id})
    assert throttled.status_code == 429
    assert throttled.json()["Fault"]["Error"][0]["code"] == "3001"
    assert normal.status_code == 200


async def test_writes_are_logged_with_entity_operation_and_requestid(
    realm: Realm, admin: httpx.AsyncClient
) -> None:
    customer = await new_customer(realm)
    await realm.post("/invoice", invoice_body(customer["Id"]), requestid="rid-log-1")
    log = (await admin.get("/admin/requests", params={"realm_id": realm.realm_id})).json()
    entry = log[-1]
    assert (entry["entity"], entry["operation"], entry["requestid"], entry["status"]) == (
        "Invoice",
        "create",
        "rid-log-1",
        200,
    )


async def test_taxservice_creates_a_tax_code_over_a_new_rate(admin: httpx.AsyncClient) -> None:
    realm = await make_realm(admin, country="GB")
    agency = (await admin.get(f"/admin/companies/{realm.realm_id}/entities/TaxAgency")).json()[0]
    body = {
        "TaxCode": "Local levy",
        "TaxRateDetails": [
            {
                "TaxRateName": "Levy 3",
                "RateValue": "3",
                "TaxAgencyId": agency["Id"],
                "TaxApplicableOn": "Sales",
            }
        ],
    }
    created = (await realm.post("/taxservice/taxcode", body)).json()
    assert created["TaxCode"] == "Local levy"
    assert created["TaxCodeId"]
    code = (await realm.get(f"/taxcode/{created['TaxCodeId']}")).json()["TaxCode"]
    rate_id = code["SalesTaxRateList"]["TaxRateDetail"][0]["TaxRateRef"]["value"]
    assert (await realm.get(f"/taxrate/{rate_id}")).json()["TaxRate"]["RateValue"] == 3
    again = await realm.post("/taxservice/taxcode", body)
    assert again.json()["Fault"]["Error"][0]["code"] == "6240"


async def test_tax_codes_cannot_be_created_directly(realm: Realm) -> None:
    reply = await realm.post("/taxcode", {"Name": "Nope"})
    assert reply.status_code == 400
    assert reply.json()["Fault"]["Error"][0]["code"] == "500"


async def test_invoice_send_marks_it_emailed_and_pdf_is_served(realm: Realm) -> None:
    customer = await new_customer(realm)
    inv = (await realm.post("/invoice", invoice_body(customer["Id"]))).json()["Invoice"]
    sent = (await realm.post(f"/invoice/{inv['Id']}/send", None, sendTo="ap@example.com")).json()["Invoice"]
    assert sent["EmailStatus"] == "EmailSent"
    assert sent["BillEmail"]["Address"] == "ap@example.com"
    pdf = await realm.get(f"/invoice/{inv['Id']}/pdf")
    assert pdf.headers["content-type"].startswith("application/pdf")
    assert pdf.content.startswith(b"%PDF")


async def test_foreign_currency_needs_multicurrency(realm: Realm) -> None:
    customer = await new_customer(realm)
    reply = await realm.post("/invoice", invoice_body(customer["Id"], CurrencyRef={"value": "EUR"}))
    assert reply.json()["Fault"]["Error"][0]["code"] == "6000"


async def test_non_utf8_body_is_500_unsupported_operation(realm: Realm) -> None:
    reply = await realm.client.post(
        realm.base + "/customer",
        content=b'{"DisplayName": "\xff\xfe"}',
        headers={**realm.headers, "Content-Type": "application/json"},
    )
    assert reply.status_code == 400
    assert reply.json()["Fault"]["Error"][0]["code"] == "500"


async def test_taxservice_keeps_the_seeded_tax_codes_and_rates(admin: httpx.AsyncClient) -> None:
    realm = await make_realm(admin, country="US")
    agency = (await admin.get(f"/admin/companies/{realm.realm_id}/entities/TaxAgency")).json()[0]
    seeded_codes = {
        c["Id"]: c for c in (await admin.get(f"/admin/companies/{realm.realm_id}/entities/TaxCode")).json()
    }
    seeded_rates = {
        r["Id"]: r for r in (await admin.get(f"/admin/companies/{realm.realm_id}/entities/TaxRate")).json()
    }
    created = []
    for n in range(1, 5):
        detail = {"TaxRateName": f"Levy {n}", "RateValue": str(n), "TaxAgencyId": agency["Id"]}
        reply = await realm.post("/taxservice/taxcode", {"TaxCode": f"Levy {n}", "TaxRateDetails": [detail]})
        created.append(reply.json())
    new_code_ids = {body["TaxCodeId"] for body in created}
    new_rate_ids = {body["TaxRateDetails"][0]["TaxRateId"] for body in created}
    assert len(new_code_ids) == 4
    assert not new_code_ids & set(seeded_codes)
    assert len(new_rate_ids) == 4
    assert not new_rate_ids & set(seeded_rates)
    for code_id, code in seeded_codes.items():
        assert (await realm.get(f"/taxcode/{code_id}")).json()["TaxCode"]["Name"] == code["Name"]
    for rate_id, rate in seeded_rates.items():
        kept = (await realm.get(f"/taxrate/{rate_id}")).json()["TaxRate"]
        assert (kept["Name"], kept["RateValue"]) == (rate["Name"], rate["RateValue"])
