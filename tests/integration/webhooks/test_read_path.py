"""Changes made in the sandbox reach a platform subscriber; payments come back with platform ids."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import select

from services.webhooks import models
from shared.contracts.envelope import Envelope
from tests.helpers.broker import bind_probe, broker_channel
from tests.integration.webhooks.conftest import Stack, events_until, legacy_body, stack, wait_until

pytestmark = pytest.mark.integration


def _is(entity_type: str, qbo_id: object, operation: str | None = None) -> Callable[[Envelope], bool]:
    def match(e: Envelope) -> bool:
        return (
            e.type == entity_type
            and e.data.get("qbo_id") == qbo_id
            and (operation is None or e.data.get("operation") == operation)
        )

    return match


@pytest.mark.parametrize("webhook_format", ["legacy", "cloudevents"])
async def test_a_change_made_in_qbo_reaches_the_platform(
    database_url: str, amqp_url: str, namespace: str, sandbox_url: str, webhook_format: str
) -> None:
    async with (
        stack(database_url, amqp_url, namespace, sandbox_url, webhook_format=webhook_format) as s,
        broker_channel(amqp_url) as (_, channel),
    ):
        probe = await bind_probe(channel, namespace, ["qbo.customer.changed"])
        tenant_id, connection_id, realm_id = await s.connect_company()

        customer = await s.act(realm_id, "Customer", "create", {"DisplayName": f"Person {namespace}"})

        event, _ = await events_until(
            probe, _is("qbo.customer.changed", customer["Id"], "Create"), timeout=30
        )
        assert event.tenantid == tenant_id
        assert event.data["connection_id"] == connection_id
        assert event.data["entity_data"]["DisplayName"] == f"Person {namespace}"


async def test_an_older_notification_after_a_newer_one_publishes_nothing(
    database_url: str, amqp_url: str, namespace: str, sandbox_url: str
) -> None:
    async with (
        stack(database_url, amqp_url, namespace, sandbox_url) as s,
        broker_channel(amqp_url) as (_, channel),
    ):
        probe = await bind_probe(channel, namespace, ["qbo.customer.changed"])
        _, _, realm_id = await s.connect_company()
        customer = await s.act(realm_id, "Customer", "create", {"DisplayName": f"Ordered {namespace}"})
        await events_until(probe, _is("qbo.customer.changed", customer["Id"], "Create"), timeout=30)

        # Intuit redelivers an old notification (another lastUpdated, so not a byte-identical replay).
        late = {
            "name": "Customer",
            "id": customer["Id"],
            "operation": "Update",
            "lastUpdated": "2020-01-01T00:00:00Z",
        }
        answer = await s.post_webhook(legacy_body(realm_id, late))
        again = await s.post_webhook(legacy_body(realm_id, late))

        assert answer.json()["status"] == "stored"
        assert again.json()["status"] == "duplicate"
        late_at = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
        assert await s.outcome(realm_id, "Customer", customer["Id"], occurred_at=late_at) == "done:stale"


async def test_a_payment_against_an_exported_invoice_names_the_platform_invoice(
    database_url: str, amqp_url: str, namespace: str, sandbox_url: str
) -> None:
    async with (
        stack(database_url, amqp_url, namespace, sandbox_url) as s,
        broker_channel(amqp_url) as (_, channel),
    ):
        probe = await bind_probe(channel, namespace, ["qbo.payment.received"])
        tenant_id, connection_id, realm_id = await s.connect_company()
        invoice = await _exported_invoice(s, tenant_id, connection_id, realm_id, platform_id="inv_9001")

        payment = await s.act(
            realm_id,
            "Payment",
            "create",
            {
                "CustomerRef": invoice["CustomerRef"],
                "TotalAmt": invoice["TotalAmt"],
                "Line": [
                    {
                        "Amount": invoice["TotalAmt"],
                        "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}],
                    }
                ],
            },
        )

        event, _ = await events_until(probe, _is("qbo.payment.received", payment["Id"]), timeout=30)
        assert event.tenantid == tenant_id
        assert event.data["applied_to"] == [
            {
                "platform_invoice_id": "inv_9001",
                "qbo_invoice_id": invoice["Id"],
                "amount": str(invoice["TotalAmt"]),
            }
        ]


async def test_an_exporter_write_and_its_webhook_make_no_foreign_change(
    database_url: str, amqp_url: str, namespace: str, sandbox_url: str
) -> None:
    async with (
        stack(database_url, amqp_url, namespace, sandbox_url) as s,
        broker_channel(amqp_url) as (_, channel),
    ):
        probe = await bind_probe(channel, namespace, ["qbo.customer.changed"])
        tenant_id, connection_id, realm_id = await s.connect_company()
        ours = await _exported_customer(s, tenant_id, connection_id, realm_id)
        assert await s.outcome(realm_id, "Customer", str(ours["Id"]), timeout=30) == "done:echo"

        # A later foreign change proves the relay is past anything our write could have produced.
        theirs = await s.act(realm_id, "Customer", "create", {"DisplayName": f"Theirs {namespace}"})
        _, seen = await events_until(probe, _is("qbo.customer.changed", theirs["Id"]), timeout=30)

        assert [
            e for e in seen if e.data.get("qbo_id") == ours["Id"] and e.data["operation"] != "Import"
        ] == []


async def test_our_own_creation_coming_back_is_recognised_without_reading_qbo(
    database_url: str, amqp_url: str, namespace: str, sandbox_url: str
) -> None:
    async with stack(database_url, amqp_url, namespace, sandbox_url) as s:
        tenant_id, connection_id, realm_id = await s.connect_company()
        await s.wait_for_imports(connection_id)  # the import's queries are over
        ours = await _exported_customer(s, tenant_id, connection_id, realm_id)

        assert await s.outcome(realm_id, "Customer", str(ours["Id"]), timeout=30) == "done:echo"
        async with httpx.AsyncClient(base_url=sandbox_url) as admin:
            log = (await admin.get("/admin/requests", params={"realm_id": realm_id})).json()
        (created,) = [e["seq"] for e in log if e["method"] == "POST" and e["path"].endswith("/customer")]
        assert [e["path"] for e in log if e["seq"] > created and e["path"].endswith("/query")] == []


async def test_our_creation_reported_by_qbo_before_the_exporters_word_is_held_then_known_as_ours(
    database_url: str, amqp_url: str, namespace: str, sandbox_url: str
) -> None:
    """QBO's notification came straight here while the exporter's sync.succeeded went through the
    broker; under load it came first, and our own customer was read from QBO and published back to
    the platform as someone else's creation."""
    async with (
        stack(database_url, amqp_url, namespace, sandbox_url, echo_wait_seconds=60) as s,
        broker_channel(amqp_url) as (_, channel),
    ):
        probe = await bind_probe(channel, namespace, ["qbo.customer.changed"])
        tenant_id, connection_id, realm_id = await s.connect_company()
        await s.wait_for_imports(connection_id)
        first = await _exported_customer(s, tenant_id, connection_id, realm_id)  # the company is written to
        assert await s.outcome(realm_id, "Customer", str(first["Id"]), timeout=30) == "done:echo"

        ours = await _api_create(s, connection_id, "Customer", {"DisplayName": f"Early {namespace}"})
        await _looked_at(s, realm_id, str(ours["Id"]))  # the processor has seen the change, no word yet
        await _sync_succeeded(s, tenant_id, connection_id, realm_id, "customer", "cus_early", ours)
        outcome = await s.outcome(realm_id, "Customer", str(ours["Id"]), timeout=30)
        # A later foreign change (in another company) proves the relay is past anything of ours.
        _, _, other_realm = await s.connect_company()
        theirs = await s.act(other_realm, "Customer", "create", {"DisplayName": f"Theirs {namespace}"})
        _, seen = await events_until(probe, _is("qbo.customer.changed", theirs["Id"]), timeout=60)
        async with httpx.AsyncClient(base_url=sandbox_url) as admin:
            log = (await admin.get("/admin/requests", params={"realm_id": realm_id})).json()

    assert outcome == "done:echo"
    assert [
        e for e in seen if e.data.get("qbo_id") == ours["Id"] and e.data["connection_id"] == connection_id
    ] == []
    (created,) = [e["seq"] for e in log if e["method"] == "POST" and e["path"].endswith("/customer")][-1:]
    assert [e["path"] for e in log if e["seq"] > created and e["path"].endswith("/query")] == []


async def test_someone_elses_creation_in_a_company_being_written_to_is_published_after_the_wait(
    database_url: str, amqp_url: str, namespace: str, sandbox_url: str
) -> None:
    async with (
        stack(database_url, amqp_url, namespace, sandbox_url, echo_wait_seconds=2) as s,
        broker_channel(amqp_url) as (_, channel),
    ):
        probe = await bind_probe(channel, namespace, ["qbo.customer.changed"])
        tenant_id, connection_id, realm_id = await s.connect_company()
        ours = await _exported_customer(s, tenant_id, connection_id, realm_id)
        assert await s.outcome(realm_id, "Customer", str(ours["Id"]), timeout=30) == "done:echo"

        theirs = await s.act(realm_id, "Customer", "create", {"DisplayName": f"Theirs {namespace}"})
        event, _ = await events_until(probe, _is("qbo.customer.changed", theirs["Id"], "Create"), timeout=30)
        c = models.changes
        held_for = await s.scalar(
            select(c.c.processed_at - c.c.created_at).where(
                c.c.realm_id == realm_id, c.c.qbo_id == str(theirs["Id"]), c.c.status == "done"
            )
        )

    assert event.data["entity_data"]["DisplayName"] == f"Theirs {namespace}"
    assert held_for >= dt.timedelta(seconds=2)  # read once the exporter could have spoken, not before


async def _looked_at(s: Stack, realm_id: str, qbo_id: str) -> None:
    """Until the processor has handled the object's change once: finished, or put off for later."""
    c = models.changes
    stmt = select(c.c.id).where(
        c.c.realm_id == realm_id,
        c.c.qbo_id == qbo_id,
        (c.c.status != "pending") | (c.c.next_attempt_at > c.c.created_at + dt.timedelta(milliseconds=500)),
    )
    await wait_until(lambda: s.scalar(stmt.limit(1)), timeout=30)


async def _exported_customer(
    s: Stack, tenant_id: str, connection_id: str, realm_id: str
) -> dict[str, object]:
    """What the exporter does: write through the API as the app, then say so in sync.succeeded."""
    created = await _api_create(s, connection_id, "Customer", {"DisplayName": f"Ours {s.namespace}"})
    await _sync_succeeded(s, tenant_id, connection_id, realm_id, "customer", f"cus_{created['Id']}", created)
    return created


async def _exported_invoice(
    s: Stack, tenant_id: str, connection_id: str, realm_id: str, *, platform_id: str
) -> dict[str, object]:
    customer = await _api_create(s, connection_id, "Customer", {"DisplayName": f"Payer {s.namespace}"})
    line = {
        "Amount": 120.5,
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {"ItemRef": {"value": "1"}},
    }
    invoice = await _api_create(
        s, connection_id, "Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [line]}
    )
    await _sync_succeeded(s, tenant_id, connection_id, realm_id, "invoice", platform_id, invoice)
    return invoice


async def _api_create(
    s: Stack, connection_id: str, entity: str, body: dict[str, object]
) -> dict[str, object]:

    token = await s.tokens.get(connection_id)
    request_id = uuid.uuid4().hex  # the same for every retry below: a 429 then a success is one write
    async with httpx.AsyncClient(base_url=token.api_base) as client:
        # Written past the service's limiter (as "someone else"), so it shares the realm's 10/s with
        # the import a new connection sets off: wait out a 429 as a well-behaved client would.
        for _ in range(20):
            response = await client.post(
                f"/v3/company/{token.realm_id}/{entity.lower()}",
                json=body,
                params={"minorversion": "75", "requestid": request_id},
                headers={"Authorization": f"Bearer {token.access_token}", "Accept": "application/json"},
            )
            if response.status_code != 429:
                break
            await asyncio.sleep(0.5)
    response.raise_for_status()
    created: dict[str, object] = response.json()[entity]
    return created


async def _sync_succeeded(
    s: Stack,
    tenant_id: str,
    connection_id: str,
    realm_id: str,
    object_type: str,
    platform_id: str,
    obj: dict[str, object],
) -> None:
    data = {
        "object_type": object_type,
        "platform_id": platform_id,
        "qbo_id": obj["Id"],
        "qbo_sync_token": obj["SyncToken"],
        "operation": "create",
        "source_event_id": f"evt-{platform_id}",
        "connection_id": connection_id,
    }
    envelope = Envelope.new("sync.succeeded", data, tenant_id=tenant_id, realm_id=realm_id)
    await s.emit(envelope)
    await s.emit(envelope)  # a duplicate delivery has no second effect
