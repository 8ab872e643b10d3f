"""Reversal events through the mapper service: one export command each, duplicates dropped."""

from __future__ import annotations

import pytest

from shared.contracts import decode_data
from shared.contracts.envelope import Envelope
from shared.contracts.internal import ExportRequested
from tests.helpers.broker import bind_probe, envelopes
from tests.integration.mapper.conftest import Mapper
from tests.integration.mapper.test_service import prepared

pytestmark = pytest.mark.integration


async def test_voids_and_deactivations_from_the_broker_become_one_export_command_each(mapper: Mapper) -> None:
    tenant, connection_id, _ = await prepared(mapper)
    probe = await bind_probe(mapper.channel, mapper.namespace, ["qbo.export.requested", "sync.rejected"])
    events = [
        Envelope.new(kind, data, tenant_id=tenant, source="test-platform")
        for kind, data in (
            ("payment.voided", {"payment_id": "pay_1"}),
            ("item.deactivated", {"item_id": "itm_1"}),
            ("customer.deactivated", {"customer_id": "cus_1"}),
        )
    ]

    for event in events:
        await mapper.publish(event)
        await mapper.publish(event)  # a duplicate delivery
    received = await envelopes(probe, count=4, timeout=5)

    assert [e.type for e in received] == ["qbo.export.requested"] * 3
    commands = [decode_data(e) for e in received]
    assert all(isinstance(cmd, ExportRequested) for cmd in commands)
    assert sorted(
        (cmd.entity, cmd.operation, cmd.platform_id, cmd.connection_id)  # type: ignore[attr-defined]
        for cmd in commands
    ) == [
        ("Customer", "delete", "cus_1", connection_id),
        ("Item", "delete", "itm_1", connection_id),
        ("Payment", "void", "pay_1", connection_id),
    ]
