"""Rejections are history: every rejected event of a tenant is in its connection's list of events."""

from __future__ import annotations

from typing import Any

import pytest

from shared.contracts.envelope import Envelope
from tests.helpers.broker import bind_probe, envelopes
from tests.integration.mapper.conftest import Mapper, until
from tests.integration.mapper.test_service import prepared
from tests.unit.mapper import companies as c

pytestmark = pytest.mark.integration


async def _rejected(mapper: Mapper, connection_id: str) -> list[dict[str, Any]]:
    answer = await mapper.http.get(f"/v1/connections/{connection_id}/events", params={"outcome": "rejected"})
    assert answer.status_code == 200
    return list(answer.json()["events"])


async def test_an_event_that_breaks_its_contract_is_in_its_tenants_history_with_every_problem(
    mapper: Mapper,
) -> None:
    tenant, connection_id, _ = await prepared(mapper)
    _, other_connection, _ = await prepared(mapper)
    probe = await bind_probe(mapper.channel, mapper.namespace, ["sync.rejected"])
    invalid = Envelope.new("invoice.approved", c.invoice(issue_date="2026-13-40"), tenant_id=tenant)

    await mapper.publish(invalid)
    await envelopes(probe, count=1, timeout=10)
    await until(lambda: _listed(mapper, connection_id, invalid.id))
    [shown] = [e for e in await _rejected(mapper, connection_id) if e["event_id"] == invalid.id]

    assert shown["code"] == "invalid_event"
    assert shown["platform_id"] == "inv_1"
    assert "$.data.issue_date" in {p["path"] for p in shown["problems"]}
    assert invalid.id not in {e["event_id"] for e in await _rejected(mapper, other_connection)}


async def _listed(mapper: Mapper, connection_id: str, event_id: str) -> bool:
    return any(e["event_id"] == event_id for e in await _rejected(mapper, connection_id))
