"""What mapping costs the database: a burst of events shares its statements, it does not pay them each."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager as ContextManager
from typing import Any

import httpx
import pytest

from services.mapper.app import DEFINITION
from shared.contracts.envelope import Envelope
from tests.helpers.broker import bind_probe, broker_channel, delete_namespace, envelopes
from tests.helpers.statements import compiled_each_time, counting_statements
from tests.integration.mapper.conftest import ADMIN, Mapper, serving_mapper, until
from tests.integration.mapper.test_bulk import events_of, invoice_event
from tests.integration.mapper.test_service import prepared

pytestmark = pytest.mark.integration
BURST = 40
# What mapping an event reads and writes (not the background loops' polls, whose number grows with the
# time the burst takes): its inbox claim, context, used values, bulk check, reference, outcome, outbox.
EVENT_STATEMENTS = (
    "INSERT INTO mapper.inbox_messages",
    "SELECT mapper.connections",
    "INSERT INTO mapper.platform_values",
    "SELECT mapper.batch_events",
    "SELECT mapper.reference_entities",
    "INSERT INTO mapper.platform_events",
    "INSERT INTO mapper.outbox_messages",
)
WRITES = 3  # export requests an invoice of these companies becomes (item, customer, invoice)


@contextlib.asynccontextmanager
async def running(database_url: str, amqp_url: str, namespace: str, mapper: Mapper) -> AsyncIterator[None]:
    """The mapper serving ``namespace`` until the block ends (its queues stay)."""
    async with serving_mapper(database_url, amqp_url, namespace) as url:
        mapper.http = httpx.AsyncClient(base_url=url, headers=ADMIN, timeout=10)
        async with mapper.http:
            await until(lambda: _answers(mapper.http))
            yield


async def _answers(http: httpx.AsyncClient) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return (await http.get("/healthz")).status_code == 200
    return False


async def test_a_waiting_burst_of_invoices_costs_the_mapper_a_few_statements_each(
    database_url: str, amqp_url: str, namespace: str
) -> None:
    try:
        async with broker_channel(amqp_url) as (_, channel):
            mapper = Mapper(httpx.AsyncClient(), channel, namespace)
            async with running(database_url, amqp_url, namespace, mapper):
                tenant, _, _ = await prepared(mapper)
            probe = await bind_probe(channel, namespace, ["qbo.export.requested"])
            burst = [invoice_event(tenant) for _ in range(BURST)]
            for event in burst:  # the mapper is stopped: the burst waits in its queue
                await mapper.publish(event)
            with counting_statements(EVENT_STATEMENTS) as statements:
                async with running(database_url, amqp_url, namespace, mapper):
                    received = await envelopes(probe, count=WRITES * BURST, timeout=60)
    finally:
        await delete_namespace(amqp_url, namespace, [DEFINITION.router])

    assert sorted({e.data["source_event_id"] for e in received}) == sorted(e.id for e in burst)
    # Each event had its own inbox claim, outbox inserts, bulk check and record of the values it uses;
    # now those are shared by the batch, read with its context, or skipped once known.
    per_event = sum(statements.values()) / BURST
    assert per_event < 5, f"{per_event:.1f} statements per event"


# What the batch handler reads and writes once for all of a batch's events: their contexts, the
# reference objects they name and their outcomes.
BATCH_STATEMENTS = (
    "SELECT mapper.connections",
    "SELECT mapper.reference_entities",
    "INSERT INTO mapper.platform_events",
)
COMPANIES = 4


async def test_a_waiting_burst_of_several_companies_is_mapped_with_a_few_statements_a_batch(
    database_url: str, amqp_url: str, namespace: str
) -> None:
    """Contexts, named reference objects and outcomes are read and written once for a batch's
    events, whichever companies they are of, where they were read and written once for each."""
    burst, received, recorded, statements = await _mapped_burst(
        database_url, amqp_url, namespace, lambda: counting_statements(BATCH_STATEMENTS)
    )

    assert sorted({e.data["source_event_id"] for e in received}) == sorted(e.id for e in burst)
    mapped = {e["event_id"] for e in recorded if e["outcome"] == "mapped"}
    assert mapped >= {e.id for e in burst}
    # Once a batch (of up to 16) each, and each company's small lists once: 3 an event before.
    per_event = sum(statements.values()) / BURST
    assert per_event < 1, f"{per_event:.2f} statements per event: {dict(statements)}"


async def test_a_burst_is_mapped_with_statements_compiled_once_not_for_each_batch(
    database_url: str, amqp_url: str, namespace: str
) -> None:
    """A batch's multi-row inserts (inbox claims, outbox rows, outcomes, used values) had no cache key:
    SQLAlchemy compiled each of them afresh, every batch (its compiler was a sixth to a fifth of the
    services' CPU). Now each is one cached statement, its rows sent as parameters."""
    burst, received, _, compiled = await _mapped_burst(database_url, amqp_url, namespace, compiled_each_time)

    assert sorted({e.data["source_event_id"] for e in received}) == sorted(e.id for e in burst)
    assert dict(compiled) == {}


async def _mapped_burst(
    database_url: str, amqp_url: str, namespace: str, watching: Callable[[], ContextManager[Counter[str]]]
) -> tuple[list[Envelope], list[Envelope], list[dict[str, Any]], Counter[str]]:
    """A burst of invoices of ``COMPANIES`` companies published while the mapper is stopped, then
    mapped under ``watching``: the burst, the export requests, the recorded outcomes, what was watched."""
    try:
        async with broker_channel(amqp_url) as (_, channel):
            mapper = Mapper(httpx.AsyncClient(), channel, namespace)
            async with running(database_url, amqp_url, namespace, mapper):
                tenants = [await prepared(mapper) for _ in range(COMPANIES)]
            probe = await bind_probe(channel, namespace, ["qbo.export.requested"])
            burst = [invoice_event(tenants[n % COMPANIES][0]) for n in range(BURST)]
            for event in burst:  # the mapper is stopped: the burst waits in its queue
                await mapper.publish(event)
            with watching() as watched:
                async with running(database_url, amqp_url, namespace, mapper):
                    received = await envelopes(probe, count=WRITES * BURST, timeout=60)
                    recorded = [e for _, c, _ in tenants for e in await events_of(mapper, c)]
    finally:
        await delete_namespace(amqp_url, namespace, [DEFINITION.router])
    return burst, received, recorded, watched
