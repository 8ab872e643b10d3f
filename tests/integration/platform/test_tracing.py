"""One trace follows an event through a consumer, the outbox and the relay to the next consumer."""

from __future__ import annotations

import secrets

import pytest
from opentelemetry.trace import SpanKind
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers.broker import bind_probe, broker_channel, envelopes, publish
from tests.helpers.factories import customer_upserted
from tests.helpers.running import serving_testkit
from tests.helpers.spans import hex_ids, recorded_spans, wait_for_span

pytestmark = pytest.mark.integration


def _ids(traceparent: str | None) -> tuple[str, str]:
    """Trace id and parent span id of a W3C ``traceparent`` (version-traceid-spanid-flags)."""
    assert traceparent is not None
    _version, trace_id, span_id, _flags = traceparent.split("-")
    return trace_id, span_id


async def test_a_consumed_message_continues_its_trace_and_the_event_it_stages_carries_it_on(
    engine: AsyncEngine, database_url: str, amqp_url: str, clean_namespace: str
) -> None:
    spans = recorded_spans()
    trace_id, platform_span = secrets.token_hex(16), secrets.token_hex(8)
    event = customer_upserted().model_copy(update={"traceparent": f"00-{trace_id}-{platform_span}-01"})
    async with broker_channel(amqp_url) as (_, channel):
        probe = await bind_probe(channel, clean_namespace, ["sync.succeeded"])
        async with serving_testkit(database_url, amqp_url, clean_namespace):
            await publish(channel, clean_namespace, event)
            (outcome,) = await envelopes(probe, count=1, timeout=60)
            consume = await wait_for_span(
                spans,
                lambda s: (
                    s.kind == SpanKind.CONSUMER
                    and (s.attributes or {}).get("messaging.message.id") == event.id
                ),
                timeout=30,
            )
            relay = await wait_for_span(
                spans,
                lambda s: (
                    s.kind == SpanKind.PRODUCER
                    and (s.attributes or {}).get("messaging.message.id") == outcome.id
                ),
                timeout=30,
            )

    consume_trace, consume_span = hex_ids(consume)
    assert consume_trace == trace_id
    assert consume.parent is not None
    assert format(consume.parent.span_id, "016x") == platform_span
    assert (consume.attributes or {})["messaging.destination.name"] == "testkit.customers"
    assert _ids(outcome.traceparent) == (trace_id, consume_span)
    assert hex_ids(relay)[0] == trace_id
    assert relay.parent is not None
    assert format(relay.parent.span_id, "016x") == consume_span


async def test_a_message_without_trace_context_starts_a_trace_its_outcome_continues(
    engine: AsyncEngine, database_url: str, amqp_url: str, clean_namespace: str
) -> None:
    spans = recorded_spans()
    event = customer_upserted()
    async with broker_channel(amqp_url) as (_, channel):
        probe = await bind_probe(channel, clean_namespace, ["sync.succeeded"])
        async with serving_testkit(database_url, amqp_url, clean_namespace):
            await publish(channel, clean_namespace, event)
            (outcome,) = await envelopes(probe, count=1, timeout=60)
            consume = await wait_for_span(
                spans, lambda s: (s.attributes or {}).get("messaging.message.id") == event.id, timeout=30
            )

    assert consume.parent is None
    assert _ids(outcome.traceparent) == hex_ids(consume)
