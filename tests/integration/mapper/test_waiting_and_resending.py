"""A new company's events wait for its lists; a rejected event sent again is processed afresh."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from opentelemetry.trace import SpanKind
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.mapper import ingest, repository
from shared.contracts import decode_data
from shared.contracts.envelope import Envelope
from shared.contracts.internal import ExportRequested
from shared.db import create_engine
from tests.helpers.broker import bind_probe, envelopes
from tests.helpers.spans import hex_ids, recorded_spans
from tests.integration.mapper.conftest import Mapper, mapper_with, unique, until
from tests.integration.mapper.test_service import ACCOUNTS, CODES, COMPANY, ITEMS, TAX
from tests.unit.mapper import companies as c

pytestmark = pytest.mark.integration


async def _events(mapper: Mapper, connection_id: str, outcome: str) -> list[dict[str, Any]]:
    answer = await mapper.http.get(f"/v1/connections/{connection_id}/events", params={"outcome": outcome})
    assert answer.status_code == 200
    return list(answer.json()["events"])


async def test_the_first_invoice_after_connecting_waits_for_the_import_and_then_maps(mapper: Mapper) -> None:
    realm = unique("realm")
    tenant, connection_id = await mapper.connect_tenant(company=COMPANY, realm_id=realm, imported=False)
    body = c.settings(fallback_item="Design").model_dump(mode="json")
    assert (await mapper.http.put(f"/v1/connections/{connection_id}/settings", json=body)).status_code == 200
    probe = await bind_probe(mapper.channel, mapper.namespace, ["qbo.export.requested", "sync.rejected"])
    line = c.sales_line(item_code=None)  # needs the fallback item, which only the import brings
    event = Envelope.new("invoice.approved", c.invoice(lines=[line]), tenant_id=tenant)

    await mapper.publish(event)  # sent at once, while the company's lists are still being imported
    await until(lambda: _has(mapper, connection_id, "waiting", event.id))
    waiting = (await _events(mapper, connection_id, "waiting"))[0]
    for entity, rows in (("Account", ACCOUNTS), ("Item", ITEMS), ("TaxRate", TAX), ("TaxCode", CODES)):
        await mapper.mirror(realm, entity, rows)
    counts = {"Account": len(ACCOUNTS), "Item": 1, "TaxRate": 1, "TaxCode": 1}
    await mapper.import_ended(connection_id, realm, counts)
    received = await envelopes(probe, count=2, timeout=10)

    assert waiting["code"] == "waiting_for_reference_import"
    assert "to be imported" in (waiting["message"] or "")
    assert [e.type for e in received] == ["qbo.export.requested", "qbo.export.requested"]
    invoice: Any = decode_data(received[-1])
    assert isinstance(invoice, ExportRequested)
    assert invoice.payload["Line"][0]["SalesItemLineDetail"]["ItemRef"] == {"value": "7"}
    assert await _has(mapper, connection_id, "mapped", event.id)


async def test_an_event_taken_up_after_the_import_continues_the_platforms_trace_not_the_imports(
    mapper: Mapper,
) -> None:
    spans = recorded_spans()
    trace_id, platform_span = secrets.token_hex(16), secrets.token_hex(8)
    realm = unique("realm")
    tenant, connection_id = await mapper.connect_tenant(company=COMPANY, realm_id=realm, imported=False)
    body = c.settings(fallback_item="Design").model_dump(mode="json")
    assert (await mapper.http.put(f"/v1/connections/{connection_id}/settings", json=body)).status_code == 200
    probe = await bind_probe(mapper.channel, mapper.namespace, ["qbo.export.requested", "sync.rejected"])
    event = Envelope.new(
        "invoice.approved", c.invoice(lines=[c.sales_line(item_code=None)]), tenant_id=tenant
    ).model_copy(update={"traceparent": f"00-{trace_id}-{platform_span}-01"})

    await mapper.publish(event)
    await until(lambda: _has(mapper, connection_id, "waiting", event.id))
    for entity, rows in (("Account", ACCOUNTS), ("Item", ITEMS), ("TaxRate", TAX), ("TaxCode", CODES)):
        await mapper.mirror(realm, entity, rows)
    counts = {"Account": len(ACCOUNTS), "Item": 1, "TaxRate": 1, "TaxCode": 1}
    await mapper.import_ended(connection_id, realm, counts)
    received = await envelopes(probe, count=2, timeout=10)
    # Recorded as it ended, inside the transaction that staged the commands: already here.
    taken_up = [
        s
        for s in spans.get_finished_spans()
        if s.kind == SpanKind.INTERNAL and (s.attributes or {}).get("cloudevents.event_id") == event.id
    ]

    assert [e.type for e in received] == ["qbo.export.requested", "qbo.export.requested"]
    assert {(e.traceparent or "").split("-")[1] for e in received} == {trace_id}
    assert len(taken_up) == 1
    assert {(e.traceparent or "").split("-")[2] for e in received} == {hex_ids(taken_up[0])[1]}
    assert taken_up[0].parent is not None
    assert format(taken_up[0].parent.span_id, "016x") == platform_span
    links = taken_up[0].links
    assert len(links) == 1  # the import's span that released it, for the record
    assert format(links[0].context.trace_id, "032x") != trace_id


async def test_an_event_whose_wait_is_over_is_mapped_with_the_lists_there_are(
    database_url: str, amqp_url: str, namespace: str
) -> None:
    async with mapper_with(database_url, amqp_url, namespace, reference_wait_seconds=0.5) as mapper:
        tenant, _ = await mapper.connect_tenant(company=COMPANY, imported=False)
        probe = await bind_probe(mapper.channel, mapper.namespace, ["qbo.export.requested"])
        event = Envelope.new(
            "invoice.approved", c.invoice(lines=[c.sales_line(item_code=None)]), tenant_id=tenant
        )

        await mapper.publish(event)  # the import never ends (say, the webhooks service is down)
        received = await envelopes(probe, count=2, timeout=15)

    invoice: Any = decode_data(received[-1])
    assert isinstance(invoice, ExportRequested)
    assert invoice.source_event_id == event.id
    # The default fallback item is not in the (empty) mirror: QBO is asked for it by name at write time.
    item_ref = invoice.payload["Line"][0]["SalesItemLineDetail"]["ItemRef"]
    assert item_ref == {"$link": {"entity": "Item", "match": {"field": "Name", "value": "Services"}}}


async def test_a_rejected_event_sent_again_with_the_same_id_after_the_fix_is_processed(
    mapper: Mapper,
) -> None:
    realm = unique("realm")
    tenant, connection_id = await mapper.connect_tenant(company=COMPANY, realm_id=realm)
    for entity, rows in (("Account", ACCOUNTS), ("Item", ITEMS), ("TaxRate", TAX), ("TaxCode", CODES)):
        await mapper.mirror(realm, entity, rows)
    off = c.settings(fallback_item="Design").model_dump(mode="json")
    off["categories"] = {"invoices": {"enabled": False}}
    assert (await mapper.http.put(f"/v1/connections/{connection_id}/settings", json=off)).status_code == 200
    kinds = ["qbo.export.requested", "sync.rejected"]
    probe = await bind_probe(mapper.channel, mapper.namespace, kinds)
    event = Envelope.new("invoice.approved", c.invoice(), tenant_id=tenant)

    await mapper.publish(event)
    first = await envelopes(probe, count=1, timeout=10)
    on = c.settings(fallback_item="Design").model_dump(mode="json")
    assert (await mapper.http.put(f"/v1/connections/{connection_id}/settings", json=on)).status_code == 200
    probe = await bind_probe(mapper.channel, mapper.namespace, kinds)
    await mapper.publish(event)  # the same id, as the rejection's hint says
    second = await envelopes(probe, count=3, timeout=10)

    assert [e.type for e in first] == ["sync.rejected"]
    assert decode_data(first[0]).code == "excluded_by_settings"  # type: ignore[attr-defined]
    assert [e.type for e in second] == ["qbo.export.requested"] * 3
    assert await _has(mapper, connection_id, "mapped", event.id)


async def _has(mapper: Mapper, connection_id: str, outcome: str, event_id: str) -> bool:
    return any(e["event_id"] == event_id for e in await _events(mapper, connection_id, outcome))


async def test_an_event_read_while_the_import_was_ending_is_mapped_at_once_not_held(
    mapper: Mapper, database_url: str
) -> None:
    """The event read "not imported" while the end of the import was being committed, and was held
    after that import had released the waiting ones: it waited two minutes for the overdue release
    (a fresh-clone run: 'no outcome for invoice.approved within 20 s')."""
    realm = unique("realm")
    tenant, connection_id = await mapper.connect_tenant(company=COMPANY, realm_id=realm, imported=False)
    body = c.settings(fallback_item="Design").model_dump(mode="json")
    assert (await mapper.http.put(f"/v1/connections/{connection_id}/settings", json=body)).status_code == 200
    for entity, rows in (("Account", ACCOUNTS), ("Item", ITEMS), ("TaxRate", TAX), ("TaxCode", CODES)):
        await mapper.mirror(realm, entity, rows)
    probe = await bind_probe(mapper.channel, mapper.namespace, ["qbo.export.requested", "sync.rejected"])
    event = Envelope.new(
        "invoice.approved", c.invoice(lines=[c.sales_line(item_code=None)]), tenant_id=tenant
    )
    engine = create_engine(database_url, application_name="qbb-tests", pool_size=2)
    try:
        async with AsyncSession(engine) as ending, ending.begin():
            # What the end of the import does, committed only once the mapper has read the event.
            await repository.mark_imported(
                ending, realm_id=realm, connection_id=connection_id, status="done", counts={}
            )
            await ingest.release_held(ending, await repository.take_held(ending, realm_id=realm))
            await mapper.publish(event)
            await until(
                lambda: _read_meanwhile(engine, mapper, connection_id, event.id),
            )
        received = await envelopes(probe, count=2, timeout=30)
    finally:
        await engine.dispose()

    assert [e.type for e in received] == ["qbo.export.requested", "qbo.export.requested"]
    assert await _has(mapper, connection_id, "mapped", event.id)


async def _read_meanwhile(engine: AsyncEngine, mapper: Mapper, connection_id: str, event_id: str) -> bool:
    """The mapper has read the event: it waits for the import's lock, or (without it) held the event."""
    async with engine.connect() as conn:
        waiting_for_lock = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
                    " WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = current_database()"
                )
            )
        ).scalar_one()
    return bool(waiting_for_lock) or await _has(mapper, connection_id, "waiting", event_id)
