"""The read path obeys the settings on the whole stack (issue 15): a tenant's settings decide
which changes made in QuickBooks its platform hears on egress."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from scripts.journey import apply_settings, wait_for
from services.webhooks import models
from shared.contracts.envelope import Envelope
from tests.e2e.conftest import Stack
from tests.e2e.test_boundary import connected_tenant, platform_bus
from tests.e2e.test_journeys import uid
from tests.helpers.platforms import registry

pytestmark = pytest.mark.e2e


async def _read_settings_version(database_url: str, connection_id: str, version: int) -> None:
    """Until the webhooks service holds the saved version (it arrives as connection.settings_changed)."""
    engine = create_async_engine(database_url)
    t = models.read_settings
    try:
        async with asyncio.timeout(60):
            while True:
                async with engine.connect() as conn:
                    found = (
                        await conn.execute(select(t.c.version).where(t.c.connection_id == connection_id))
                    ).scalar_one_or_none()
                if found is not None and found >= version:
                    return
                await asyncio.sleep(0.2)
    finally:
        await engine.dispose()


async def test_a_platform_hears_the_changes_of_categories_set_both_and_not_of_those_set_to_qbo(
    stack: Stack, e2e_database_url: str
) -> None:
    async with (
        httpx.AsyncClient(timeout=20) as http,
        registry(http, stack.ends.auth, stack.ends.namespace) as platforms,
    ):
        a = await platforms.register()
        tenant = await connected_tenant(http, stack, a.tenants[0])
        version = await apply_settings(
            http, stack.ends, tenant, {"categories": {"customers": {"direction": "both"}}}
        )
        await _read_settings_version(e2e_database_url, tenant.connection_id, version)
        async with platform_bus(a) as bus:
            changes = await bus.listen("qbo.customer.changed", "qbo.vendor.changed")
            act = f"{stack.ends.sandbox}/admin/companies/{tenant.realm_id}/act"
            vendor = await http.post(
                f"{act}/Vendor", json={"operation": "create", "body": {"DisplayName": uid("Held")}}
            )
            customer = await http.post(
                f"{act}/Customer", json={"operation": "create", "body": {"DisplayName": uid("Heard")}}
            )
            vendor.raise_for_status()
            customer.raise_for_status()
            customer_id = customer.json()["Customer"]["Id"]
            seen: list[Envelope] = []
            heard = await wait_for(
                changes, lambda e: e.data.get("qbo_id") == customer_id, timeout=60, seen=seen
            )

    assert heard is not None, "the customer made in QBO did not reach the platform"
    assert heard.type == "qbo.customer.changed"
    assert heard.withheld is None
    assert [e for e in seen if e.type == "qbo.vendor.changed"] == []  # vendors: to_qbo by default
