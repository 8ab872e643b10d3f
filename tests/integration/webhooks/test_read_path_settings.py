"""The read path obeys the connection's settings: a category off or ``to_qbo`` keeps its changes
from the platform (``withheld``: the bridge's own services still get them), ``from_qbo`` or
``both`` sends them, and a document dated before the category's start date stays back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shared.contracts.envelope import Envelope
from tests.helpers.broker import bind_probe, broker_channel
from tests.integration.webhooks.conftest import Stack, stack, take_until

pytestmark = pytest.mark.integration


def _is(event_type: str, qbo_id: object) -> Callable[[Envelope], bool]:
    return lambda e: e.type == event_type and e.data.get("qbo_id") == qbo_id


async def _settings(s: Stack, tenant_id: str, connection_id: str, version: int, **categories: Any) -> None:
    """What the mapper announces when the tenant saves settings (delivered twice, as a broker may),
    waited for until the service has taken it."""
    data = {"connection_id": connection_id, "version": version, "categories": categories}
    envelope = Envelope.new("connection.settings_changed", data, tenant_id=tenant_id)
    await s.emit(envelope)
    await s.emit(envelope)
    await s.consumed(envelope)


async def _invoice(s: Stack, realm_id: str, day: str) -> dict[str, Any]:
    line = {
        "Amount": 10,
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {"ItemRef": {"value": "1"}},
    }
    return await s.act(
        realm_id, "Invoice", "create", {"CustomerRef": {"value": "1"}, "TxnDate": day, "Line": [line]}
    )


async def test_with_default_settings_a_customer_change_is_withheld_from_the_platform(
    database_url: str, amqp_url: str, namespace: str, sandbox_url: str
) -> None:
    async with (
        stack(database_url, amqp_url, namespace, sandbox_url) as s,
        broker_channel(amqp_url) as (_, channel),
    ):
        probe = await bind_probe(channel, namespace, ["qbo.customer.changed", "qbo.term.changed"])
        _, _, realm_id = await s.connect_company()

        customer = await s.act(realm_id, "Customer", "create", {"DisplayName": f"Held {namespace}"})
        term = await s.act(realm_id, "Term", "create", {"Name": f"Net {namespace[-6:]}", "DueDays": 12})

        held, _ = await take_until(probe, _is("qbo.customer.changed", customer["Id"]), timeout=30)
        sent, _ = await take_until(probe, _is("qbo.term.changed", term["Id"]), timeout=30)
        assert "customers sync to QuickBooks only" in (held.withheld or "")
        assert sent.withheld is None  # a list no category governs always goes back
        assert await s.outcome(realm_id, "Customer", customer["Id"], timeout=30) == "done:withheld"


async def test_from_qbo_sends_a_categorys_changes_and_an_older_settings_version_changes_nothing(
    database_url: str, amqp_url: str, namespace: str, sandbox_url: str
) -> None:
    async with (
        stack(database_url, amqp_url, namespace, sandbox_url) as s,
        broker_channel(amqp_url) as (_, channel),
    ):
        probe = await bind_probe(channel, namespace, ["qbo.customer.changed", "qbo.vendor.changed"])
        tenant_id, connection_id, realm_id = await s.connect_company()
        await _settings(s, tenant_id, connection_id, 2, customers={"direction": "from_qbo"})
        await _settings(s, tenant_id, connection_id, 1, customers={"direction": "off"})  # late, older
        assert await s.read_settings_version(connection_id) == 2

        customer = await s.act(realm_id, "Customer", "create", {"DisplayName": f"Back {namespace}"})
        vendor = await s.act(realm_id, "Vendor", "create", {"DisplayName": f"Held {namespace}"})

        sent, _ = await take_until(probe, _is("qbo.customer.changed", customer["Id"]), timeout=30)
        held, _ = await take_until(probe, _is("qbo.vendor.changed", vendor["Id"]), timeout=30)
        assert sent.withheld is None
        assert "vendors sync to QuickBooks only" in (held.withheld or "")


async def test_a_document_dated_before_the_start_date_is_withheld_one_on_it_is_sent(
    database_url: str, amqp_url: str, namespace: str, sandbox_url: str
) -> None:
    async with (
        stack(database_url, amqp_url, namespace, sandbox_url) as s,
        broker_channel(amqp_url) as (_, channel),
    ):
        probe = await bind_probe(channel, namespace, ["qbo.invoice.changed"])
        tenant_id, connection_id, realm_id = await s.connect_company()
        await _settings(
            s, tenant_id, connection_id, 1, invoices={"direction": "both", "start_date": "2026-06-01"}
        )

        before = await _invoice(s, realm_id, "2026-05-31")
        on = await _invoice(s, realm_id, "2026-06-01")

        held, _ = await take_until(probe, _is("qbo.invoice.changed", before["Id"]), timeout=30)
        sent, _ = await take_until(probe, _is("qbo.invoice.changed", on["Id"]), timeout=30)
        assert held.withheld == "dated 2026-05-31, before the invoices start date 2026-06-01"
        assert sent.withheld is None
