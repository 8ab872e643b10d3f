"""What the mapper reads once per event (connection, settings, import state, small lists) and keeps
between events: a change handled by the mapper is what the next event is mapped with."""

from __future__ import annotations

from typing import Any

import pytest

from shared.contracts import decode_data
from shared.contracts.envelope import Envelope
from shared.contracts.internal import ExportRequested
from tests.helpers.broker import bind_probe, envelopes
from tests.integration.mapper.conftest import Mapper, until
from tests.integration.mapper.test_service import CODES, _count, prepared
from tests.unit.mapper import companies as c

pytestmark = pytest.mark.integration


async def _mapped(mapper: Mapper, tenant: str, entity: str) -> ExportRequested:
    """Publish one invoice and return its export command for ``entity``."""
    probe = await bind_probe(mapper.channel, mapper.namespace, ["qbo.export.requested"])
    event = Envelope.new("invoice.approved", c.invoice(random_id=True), tenant_id=tenant)
    await mapper.publish(event)
    commands = [decode_data(e) for e in await envelopes(probe, count=3, timeout=10)]
    found = [cmd for cmd in commands if isinstance(cmd, ExportRequested) and cmd.entity == entity]
    assert len(found) == 1, commands
    return found[0]


def _tax_code(payload: dict[str, Any]) -> Any:
    return payload["TxnTaxDetail"]["TxnTaxCodeRef"]["value"]


async def test_a_tax_code_replaced_in_the_mirror_is_what_the_next_invoice_uses(mapper: Mapper) -> None:
    tenant, connection_id, realm = await prepared(mapper)
    assert _tax_code((await _mapped(mapper, tenant, "Invoice")).payload) == "2"  # lists now kept
    replacement = {**CODES[0], "Id": "9"}
    gone = {"entity": "TaxCode", "qbo_id": "2", "operation": "Delete", "realm_id": realm}

    await mapper.publish(Envelope.new("qbo.taxcode.changed", gone))
    await mapper.mirror(realm, "TaxCode", [replacement])
    await until(lambda: _only_code(mapper, connection_id, "9"))

    assert _tax_code((await _mapped(mapper, tenant, "Invoice")).payload) == "9"


async def test_a_settings_change_is_what_the_next_event_is_mapped_with(mapper: Mapper) -> None:
    tenant, connection_id, _ = await prepared(mapper)
    assert (await _mapped(mapper, tenant, "Customer")).payload["DisplayName"] == "ACME"
    body = c.settings(fallback_item="Design", customer_match="name").model_dump(mode="json")

    saved = await mapper.http.put(f"/v1/connections/{connection_id}/settings", json=body)

    assert saved.status_code == 200
    assert (await _mapped(mapper, tenant, "Customer")).payload["DisplayName"] == "Acme Ltd"


async def _only_code(mapper: Mapper, connection_id: str, qbo_id: str) -> bool:
    if not await _count(mapper, connection_id, "tax-codes", 1):
        return False
    items = (await mapper.http.get(f"/v1/connections/{connection_id}/reference/tax-codes")).json()["items"]
    return [i["qbo_id"] for i in items] == [qbo_id]
