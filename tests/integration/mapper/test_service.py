"""The mapper service end to end on real Postgres and RabbitMQ: ingest, rejections, settings, mirror."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from shared.contracts import decode_data
from shared.contracts.bridge import SyncRejected
from shared.contracts.envelope import Envelope
from shared.contracts.internal import ExportRequested
from tests.helpers.broker import bind_probe, envelopes
from tests.integration.mapper.conftest import Mapper, unique, until
from tests.unit.mapper import companies as c

pytestmark = pytest.mark.integration
COMPANY = c.company("US").model_dump(mode="json")
ITEMS = [{"Id": "7", "Name": "Design", "Type": "Service", "Active": True}]
ACCOUNTS = [{"Id": i, "Name": n, "AccountType": t, "Active": True} for i, n, t in c.ACCOUNTS]
TAX = [{"Id": "3", "Name": "California", "RateValue": 8, "Active": True}]
CODES = [
    {
        "Id": "2",
        "Name": "California",
        "Active": True,
        "TaxGroup": True,
        "SalesTaxRateList": {"TaxRateDetail": [{"TaxRateRef": {"value": "3"}}]},
    }
]


async def prepared(mapper: Mapper) -> tuple[str, str, str]:
    """A connected tenant whose company mirror has the accounts, item and tax code invoices use."""
    realm = unique("realm")
    tenant, connection_id = await mapper.connect_tenant(company=COMPANY, realm_id=realm)
    for entity, rows in (("Account", ACCOUNTS), ("Item", ITEMS), ("TaxRate", TAX), ("TaxCode", CODES)):
        await mapper.mirror(realm, entity, rows)
    await until(lambda: _count(mapper, connection_id, "tax-codes", 1))
    body = c.settings(fallback_item="Design").model_dump(mode="json")
    assert (await mapper.http.put(f"/v1/connections/{connection_id}/settings", json=body)).status_code == 200
    return tenant, connection_id, realm


async def _count(mapper: Mapper, connection_id: str, kind: str, expected: int) -> bool:
    response = await mapper.http.get(f"/v1/connections/{connection_id}/reference/{kind}")
    return response.status_code == 200 and len(response.json()["items"]) == expected


async def test_invoice_from_the_broker_becomes_ordered_export_commands_once(mapper: Mapper) -> None:
    tenant, connection_id, realm = await prepared(mapper)
    probe = await bind_probe(mapper.channel, mapper.namespace, ["qbo.export.requested", "sync.rejected"])
    event = Envelope.new("invoice.approved", c.invoice(), tenant_id=tenant, source="test-platform")

    await mapper.publish(event)
    await mapper.publish(event)  # a duplicate delivery
    received = await envelopes(probe, count=4, timeout=5)

    assert [e.type for e in received] == ["qbo.export.requested"] * 3
    commands = [decode_data(e) for e in received]
    assert all(isinstance(cmd, ExportRequested) for cmd in commands)
    assert [cmd.entity for cmd in commands] == ["Item", "Customer", "Invoice"]  # type: ignore[attr-defined]
    invoice: Any = commands[-1]
    assert (invoice.connection_id, invoice.realm_id, invoice.source_event_id) == (
        connection_id,
        realm,
        event.id,
    )
    assert invoice.payload["TxnTaxDetail"] == {"TxnTaxCodeRef": {"value": "2"}}
    assert received[-1].causationid == event.id


async def test_invalid_and_unknown_tenant_events_are_rejected_and_the_consumer_keeps_running(
    mapper: Mapper,
) -> None:
    tenant, _, _ = await prepared(mapper)
    probe = await bind_probe(mapper.channel, mapper.namespace, ["sync.rejected"])
    bad = c.invoice(issue_date="2026-13-40", lines=[c.sales_line(quantity="-2")], number="N" * 40)
    invalid = Envelope.new("invoice.approved", bad, tenant_id=tenant)
    stranger = Envelope.new("invoice.approved", c.invoice(), tenant_id=unique("nobody"))

    for event in (invalid, invalid, stranger):
        await mapper.publish(event)
    received = await envelopes(probe, count=3, timeout=5)

    assert len(received) == 2
    first, second = (decode_data(e) for e in received)
    assert isinstance(first, SyncRejected)
    assert isinstance(second, SyncRejected)
    assert first.code == "invalid_event"
    assert first.platform_id == "inv_1"
    assert {p["path"] for p in first.problems} >= {
        "$.data.issue_date",
        "$.data.number",
        "$.data.lines[0].quantity",
    }
    assert (second.code, second.source_event_id) == ("unknown_tenant", stranger.id)
    assert "has no QuickBooks connection" in second.message


async def test_http_ingest_answers_202_or_422_with_every_problem(mapper: Mapper) -> None:
    tenant, _, _ = await prepared(mapper)
    key = await mapper.issue_key(tenant)
    headers = {"Authorization": f"Bearer {key}"}
    probe = await bind_probe(mapper.channel, mapper.namespace, ["qbo.export.requested"])
    good = Envelope.new("customer.upserted", c.customer(), source="test-platform")
    bad = Envelope.new("customer.upserted", {"code": "X" * 600, "email": 5}, source="test-platform")

    refused = await mapper.http.post("/v1/events", content=bad.to_json_bytes(), headers=headers)
    accepted = await mapper.http.post("/v1/events", content=good.to_json_bytes(), headers=headers)
    mapped = await envelopes(probe, count=1, timeout=30)
    # Sent again once the first copy was published and mapped (its outbox row is gone): the answer
    # must not depend on how far the first one got (it said "accepted" when the relay was quick).
    again = await mapper.http.post("/v1/events", content=good.to_json_bytes(), headers=headers)
    received = mapped + await envelopes(probe, count=1, timeout=3)

    assert refused.status_code == 422
    assert {p["path"] for p in refused.json()["problems"]} == {
        "$.data.customer_id",
        "$.data.code",
        "$.data.email",
    }
    assert (accepted.status_code, accepted.json()) == (202, {"event_id": good.id, "status": "accepted"})
    assert again.json()["status"] == "duplicate"
    assert len(received) == 1
    assert received[0].tenantid == tenant


async def test_settings_are_validated_versioned_and_tenant_scoped(mapper: Mapper) -> None:
    _tenant, connection_id, _ = await prepared(mapper)
    other_key = await mapper.issue_key(unique("other"))
    url = f"/v1/connections/{connection_id}/settings"
    current = (await mapper.http.get(url)).json()
    changed = current["settings"] | {"customer_match": "name"}

    bad = await mapper.http.put(url, json=current["settings"] | {"customer_match": "email", "oops": 1})
    saved = await mapper.http.put(url, json=changed, headers={"If-Match": str(current["version"])})
    stale = await mapper.http.put(url, json=changed, headers={"If-Match": str(current["version"])})
    foreign = await mapper.http.get(url, headers={"Authorization": f"Bearer {other_key}"})
    history = (await mapper.http.get(f"{url}/history")).json()

    assert bad.status_code == 422
    assert {tuple(e["loc"][1:]) for e in bad.json()["detail"]} == {("customer_match",), ("oops",)}
    assert saved.json()["version"] == current["version"] + 1
    assert stale.status_code == 409
    assert foreign.status_code == 404
    assert [h["version"] for h in history] == [current["version"] + 1, current["version"]]


async def test_saved_settings_are_announced_for_the_read_path(mapper: Mapper) -> None:
    # Bound before the first save: its announcement, relayed some time after the save answers,
    # arrives too (a probe bound after it took that one for the second save's under load).
    probe = await bind_probe(mapper.channel, mapper.namespace, ["connection.settings_changed"])
    tenant, connection_id, _ = await prepared(mapper)
    url = f"/v1/connections/{connection_id}/settings"
    current = (await mapper.http.get(url)).json()
    categories = current["settings"]["categories"] | {
        "customers": {"direction": "both", "start_date": "2026-01-01"}
    }

    saved = await mapper.http.put(url, json=current["settings"] | {"categories": categories})
    ours: list[Envelope] = []
    async with asyncio.timeout(30):
        while len(ours) < 2:  # another test's save, relayed late, may come in between: not ours
            ours += [
                e
                for e in await envelopes(probe, count=1, timeout=30)
                if e.data["connection_id"] == connection_id
            ]
    first, announced = sorted(ours, key=lambda e: e.data["version"])

    assert saved.status_code == 200, saved.text
    assert first.data["version"] == current["version"]  # the first save's, announced once
    assert announced.tenantid == tenant
    assert announced.data["connection_id"] == connection_id
    assert announced.data["version"] == saved.json()["version"]
    assert announced.data["categories"]["customers"] == {
        "enabled": True,
        "direction": "both",
        "start_date": "2026-01-01",
    }
    assert announced.data["categories"]["invoices"]["direction"] == "to_qbo"


async def test_reference_mirror_follows_qbo_changes(mapper: Mapper) -> None:
    _, connection_id, realm = await prepared(mapper)
    renamed = {"Id": "7", "Name": "Design work", "Type": "Service", "Active": True}
    deleted = Envelope.new(
        "qbo.item.changed", {"entity": "Item", "qbo_id": "7", "operation": "Delete", "realm_id": realm}
    )

    await mapper.mirror(realm, "Item", [renamed, renamed])
    await until(lambda: _named(mapper, connection_id, "Design work"))
    await mapper.publish(deleted)
    await mapper.publish(deleted)

    await until(lambda: _count(mapper, connection_id, "items", 0))
    unknown = await mapper.http.get(f"/v1/connections/{connection_id}/reference/widgets")
    assert unknown.status_code == 404


async def _named(mapper: Mapper, connection_id: str, name: str) -> bool:
    items = (await mapper.http.get(f"/v1/connections/{connection_id}/reference/items")).json()["items"]
    return [i["name"] for i in items] == [name]
