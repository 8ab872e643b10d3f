"""``qbo.payment.received``: one event id per payment version, whichever path saw it; voids, deletes."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

import pytest
from aio_pika.abc import AbstractQueue
from sqlalchemy import select

from services.webhooks import models, service
from shared.contracts.envelope import Envelope
from tests.helpers.broker import bind_probe, broker_channel
from tests.integration.webhooks.conftest import (
    ADMIN_KEY,
    Stack,
    left_in,
    legacy_body,
    outbox_drained,
    stack,
    take_until,
    wait_until,
)
from tests.integration.webhooks.test_read_path import _exported_invoice

pytestmark = pytest.mark.integration
PAYMENT = "qbo.payment.received"
RESENT = "2026-01-01T00:00:00+00:00"


def expected_id(tenant_id: str, realm_id: str, qbo_id: str, version: str) -> str:
    """The documented derivation (README, Events): uuid5 of tenant/realm/entity/qbo id/SyncToken."""
    return str(uuid.uuid5(service.PAYMENT_EVENTS, f"{tenant_id}/{realm_id}/Payment/{qbo_id}/{version}"))


def _of(qbo_id: object) -> Callable[[Envelope], bool]:
    return lambda e: e.type == PAYMENT and e.data.get("qbo_id") == qbo_id


async def _pay(s: Stack, realm_id: str, invoice: dict[str, object], amount: float) -> dict[str, object]:
    """A payment a person records in QBO against the platform's invoice."""
    line = {"Amount": amount, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}
    body = {"CustomerRef": invoice["CustomerRef"], "TotalAmt": amount, "Line": [line]}
    return await s.act(realm_id, "Payment", "create", body)


async def _caught_up(s: Stack, connection_id: str) -> None:
    """CDC run now for the connection (the admin's catch-up), and waited for (bounded)."""
    w = models.cdc_watermarks
    last_run = select(w.c.last_run_at).where(w.c.connection_id == connection_id)
    before = await s.scalar(last_run)
    asked_at = dt.datetime.now(dt.UTC)
    answer = await s.service.post(
        f"/v1/connections/{connection_id}/catch-up", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    )
    assert answer.status_code == 202

    async def ran() -> bool:
        now = await s.scalar(last_run)
        return now is not None and now != before and now >= asked_at - dt.timedelta(seconds=1)

    await wait_until(ran, timeout=60)


async def _nothing_more_for(s: Stack, probe: AbstractQueue, qbo_id: object) -> list[Envelope]:
    await outbox_drained(s)
    return [e for e in await left_in(probe) if _of(qbo_id)(e)]


async def test_a_redelivered_webhook_and_cdc_seeing_the_same_version_make_one_event_id(
    database_url: str, amqp_url: str, namespace: str, sandbox_url: str
) -> None:
    async with (
        stack(database_url, amqp_url, namespace, sandbox_url, cdc_settle_seconds=0) as s,
        broker_channel(amqp_url) as (_, channel),
    ):
        probe = await bind_probe(channel, namespace, [PAYMENT])
        tenant_id, connection_id, realm_id = await s.connect_company()
        invoice = await _exported_invoice(s, tenant_id, connection_id, realm_id, platform_id="inv_77")
        payment = await _pay(s, realm_id, invoice, 120.5)
        first, _ = await take_until(probe, _of(payment["Id"]), timeout=30)

        # Intuit sends the notification again (another lastUpdated: not a byte-identical replay).
        again = {"name": "Payment", "id": str(payment["Id"]), "operation": "Create", "lastUpdated": RESENT}
        assert (await s.post_webhook(legacy_body(realm_id, again))).json()["status"] == "stored"
        resent_at = dt.datetime.fromisoformat(RESENT)
        assert await s.outcome(realm_id, "Payment", str(payment["Id"]), occurred_at=resent_at) == "done:stale"
        await _caught_up(s, connection_id)  # CDC returns the same version

        assert first.id == expected_id(tenant_id, realm_id, str(payment["Id"]), "0")
        assert (first.data["status"], first.data["sync_token"], first.data["amount"]) == (
            "received",
            "0",
            "120.5",
        )
        assert await _nothing_more_for(s, probe, payment["Id"]) == []


async def test_a_memo_edit_is_a_new_version_that_replaces_and_a_void_reports_zero(
    database_url: str, amqp_url: str, namespace: str, sandbox_url: str
) -> None:
    async with (
        stack(database_url, amqp_url, namespace, sandbox_url) as s,
        broker_channel(amqp_url) as (_, channel),
    ):
        probe = await bind_probe(channel, namespace, [PAYMENT])
        tenant_id, connection_id, realm_id = await s.connect_company()
        invoice = await _exported_invoice(s, tenant_id, connection_id, realm_id, platform_id="inv_78")
        payment = await _pay(s, realm_id, invoice, 120.5)
        first, _ = await take_until(probe, _of(payment["Id"]), timeout=30)

        edited = await s.act(
            realm_id,
            "Payment",
            "update",
            {"Id": payment["Id"], "SyncToken": payment["SyncToken"], "sparse": True, "PrivateNote": "memo"},
        )
        second, _ = await take_until(probe, _of(payment["Id"]), timeout=30)
        voided = await s.act(
            realm_id, "Payment", "void", {"Id": payment["Id"], "SyncToken": edited["SyncToken"]}
        )
        third, _ = await take_until(probe, _of(payment["Id"]), timeout=30)

        qbo_id = str(payment["Id"])
        assert second.id == expected_id(tenant_id, realm_id, qbo_id, str(edited["SyncToken"])) != first.id
        # The same payment, the same amount: a platform replaces the version it had (same qbo_id).
        assert (second.data["qbo_id"], second.data["amount"]) == (first.data["qbo_id"], first.data["amount"])
        assert second.data["applied_to"] == first.data["applied_to"]
        assert int(second.data["sync_token"]) > int(first.data["sync_token"])
        assert third.id == expected_id(tenant_id, realm_id, qbo_id, str(voided["SyncToken"]))
        assert (third.data["status"], third.data["amount"]) == ("voided", "0.00")
        assert third.data["applied_to"] == [
            {"platform_invoice_id": "inv_78", "qbo_invoice_id": invoice["Id"], "amount": "0.00"}
        ]
        assert await _nothing_more_for(s, probe, payment["Id"]) == []


async def test_a_payment_deleted_in_qbo_is_reported_deleted_against_its_invoices(
    database_url: str, amqp_url: str, namespace: str, sandbox_url: str
) -> None:
    async with (
        stack(database_url, amqp_url, namespace, sandbox_url) as s,
        broker_channel(amqp_url) as (_, channel),
    ):
        probe = await bind_probe(channel, namespace, [PAYMENT])
        tenant_id, connection_id, realm_id = await s.connect_company()
        invoice = await _exported_invoice(s, tenant_id, connection_id, realm_id, platform_id="inv_79")
        payment = await _pay(s, realm_id, invoice, 20)
        await take_until(probe, _of(payment["Id"]), timeout=30)

        await s.act(realm_id, "Payment", "delete", {"Id": payment["Id"], "SyncToken": payment["SyncToken"]})
        deleted, _ = await take_until(probe, _of(payment["Id"]), timeout=30)

        assert deleted.id == expected_id(tenant_id, realm_id, str(payment["Id"]), "deleted")
        assert (deleted.data["status"], deleted.data["amount"]) == ("deleted", "0.00")
        assert "sync_token" not in deleted.data
        assert deleted.data["applied_to"] == [
            {"platform_invoice_id": "inv_79", "qbo_invoice_id": invoice["Id"], "amount": "0.00"}
        ]
        assert await _nothing_more_for(s, probe, payment["Id"]) == []
