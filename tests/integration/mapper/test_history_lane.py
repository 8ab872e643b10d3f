"""The mapper's history lane (issue 13): bulk lines go through their own queue and are relayed after
live rows, so live events of the same tenant and of another one are mapped before a batch's tail."""

from __future__ import annotations

import pytest

from shared.contracts import decode_data
from shared.contracts.envelope import Envelope
from shared.contracts.internal import ExportRequested
from tests.helpers.broker import bind_probe, envelopes
from tests.integration.mapper.conftest import Mapper
from tests.integration.mapper.test_bulk import bulk, events_of, invoice_event, ndjson
from tests.integration.mapper.test_service import prepared

pytestmark = pytest.mark.integration
HISTORY = 300
TAIL = 100  # the batch's last lines: live events must be mapped before any of them
WRITES = 3  # export requests an invoice of these companies becomes (customer, item, invoice)


def _invoice_order(received: list[Envelope]) -> list[str]:
    """The source events of the published Invoice export requests, in the order they were published."""
    commands = [decode_data(e) for e in received]
    return [i.source_event_id for i in commands if isinstance(i, ExportRequested) and i.entity == "Invoice"]


async def test_live_events_are_mapped_before_the_tail_of_a_queued_bulk(mapper: Mapper) -> None:
    tenant, _, _ = await prepared(mapper)
    other, _, _ = await prepared(mapper)
    probe = await bind_probe(mapper.channel, mapper.namespace, ["qbo.export.requested"])
    history = [invoice_event(tenant, number=f"H-{n}") for n in range(HISTORY)]
    live_same, live_other = invoice_event(tenant, number="LIVE-A"), invoice_event(other, number="LIVE-B")

    answer = await bulk(mapper, ndjson(*history))
    assert answer.status_code == 202, answer.text
    # The whole batch is committed (staged) before the live events arrive.
    for live in (live_same, live_other):
        sent = await mapper.http.post("/v1/events", json=live.model_dump(mode="json", exclude_none=True))
        assert sent.status_code == 202, sent.text
    received = await envelopes(probe, count=WRITES * (HISTORY + 2), timeout=300)

    order = _invoice_order(received)
    assert sorted(order) == sorted([e.id for e in history] + [live_same.id, live_other.id])  # once each
    tail = {e.id for e in history[-TAIL:]}
    first_of_tail = min(n for n, event_id in enumerate(order) if event_id in tail)
    assert order.index(live_same.id) < first_of_tail
    assert order.index(live_other.id) < first_of_tail


async def test_an_event_sent_in_a_bulk_and_live_has_one_effect(mapper: Mapper) -> None:
    tenant, connection_id, _ = await prepared(mapper)
    probe = await bind_probe(mapper.channel, mapper.namespace, ["qbo.export.requested"])
    event = invoice_event(tenant, number="BOTH-1")

    assert (await bulk(mapper, ndjson(event))).status_code == 202
    await mapper.publish(event)  # the same event from the broker, as a platform would send it
    received = await envelopes(probe, count=2 * WRITES, timeout=8)  # waits for a second effect

    assert _invoice_order(received) == [event.id]
    assert [e["event_id"] for e in await events_of(mapper, connection_id)] == [event.id]
