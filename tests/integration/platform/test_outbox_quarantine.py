"""Outbox rows that cannot be published are quarantined with their reason; the rows behind them flow."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.contracts.envelope import Envelope
from tests.helpers import testkit
from tests.helpers.broker import bind_probe, broker_channel, envelopes
from tests.helpers.running import serving

pytestmark = pytest.mark.integration


def _sync_succeeded(**extra: Any) -> Envelope:
    data = {"object_type": "customer", "platform_id": f"cus_{uuid.uuid4().hex[:8]}", "qbo_id": "1"}
    return Envelope.new("sync.succeeded", {**data, "operation": "create", "source_event_id": "e1", **extra})


def _quarantined() -> float:
    return sum(
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == "qbb_outbox_quarantined"
        for sample in metric.samples
        if sample.name.endswith("_total")
    )


async def test_unpublishable_rows_are_quarantined_and_do_not_block_the_rows_behind_them(
    engine: AsyncEngine, database_url: str, amqp_url: str, clean_namespace: str
) -> None:
    too_large = _sync_succeeded(note="x" * 100_000)
    # A correlation id of 400 UTF-8 bytes: AMQP short strings hold 255, so every publish fails.
    unsendable = _sync_succeeded().model_copy(update={"correlationid": "é" * 200})
    good = [_sync_succeeded() for _ in range(5)]
    staged: list[dict[str, Any]] = [
        {"message_id": e.id, "routing_key": e.type, "envelope": e.model_dump(mode="json", exclude_none=True)}
        for e in [too_large, unsendable]
    ]
    staged.append({"message_id": "not-an-envelope", "routing_key": "sync.succeeded", "envelope": {"x": 1}})
    staged += [
        {"message_id": e.id, "routing_key": e.type, "envelope": e.model_dump(mode="json", exclude_none=True)}
        for e in good
    ]
    settings = testkit.TestkitSettings(
        database_url=database_url,
        amqp_url=amqp_url,
        amqp_namespace=clean_namespace,
        environment="test",
        max_message_bytes=64 * 1024,
        outbox_max_publish_failures=2,
        publish_timeout_seconds=5,
    )
    before = _quarantined()
    async with broker_channel(amqp_url) as (_, channel):
        probe = await bind_probe(channel, clean_namespace, ["sync.succeeded"])
        async with engine.begin() as conn:
            await conn.execute(insert(testkit.outbox), staged)
        async with serving(testkit.DEFINITION, settings):
            delivered = await envelopes(probe, count=len(good), timeout=15)
            rows = await _wait_for_quarantine(engine, count=3, timeout=15)

    assert sorted(e.id for e in delivered) == sorted(e.id for e in good)
    assert set(rows) == {too_large.id, unsendable.id, "not-an-envelope"}
    assert rows[too_large.id].startswith("too_large: ")
    assert "65536" in rows[too_large.id]
    assert rows[unsendable.id].startswith("publish_failed: 2 failed publishes")
    assert "255 bytes" in rows[unsendable.id]
    assert rows["not-an-envelope"].startswith("invalid: not a valid envelope")
    assert _quarantined() - before == 3


async def _wait_for_quarantine(engine: AsyncEngine, *, count: int, timeout: float) -> dict[str, str]:
    """Wait (bounded) until the outbox holds ``count`` rows, all quarantined; message id → reason."""
    t = testkit.outbox
    found: dict[str, str] = {}
    async with asyncio.timeout(timeout):
        while True:
            async with engine.connect() as conn:
                rows = (await conn.execute(select(t.c.message_id, t.c.quarantine_reason))).all()
            found = {r.message_id: r.quarantine_reason for r in rows}
            if len(found) == count and all(found.values()):
                return found
            await asyncio.sleep(0.1)
