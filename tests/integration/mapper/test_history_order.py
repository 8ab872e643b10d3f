"""History goes behind live work (issue 13): a live invoice sent during a large backfill reaches QBO
before the backfill's tail, for the same realm and for another one."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from services.exporter import models as exporter_models
from shared.contracts.envelope import Envelope
from tests.integration.exporter.kit import TERMINAL, Conn, wait_for_jobs
from tests.integration.mapper.conftest import until
from tests.integration.mapper.pipeline import Pipeline, pipeline
from tests.integration.mapper.qbo_writer import entities
from tests.unit.mapper import companies as c

pytestmark = pytest.mark.integration
NDJSON = {"Content-Type": "application/x-ndjson"}
# More than one round of the realm (30 writes) stays queued behind the round the outage holds.
HISTORY = 90


def invoice(conn: Conn, n: int, prefix: str) -> Envelope:
    customer = c.customer(customer_id=f"cus_{prefix}{n}", code=f"{prefix}-C{n}", name=f"{prefix} {n}")
    data = c.invoice(random_id=True, number=f"{prefix}-{n}", customer=customer, lines=[c.sales_line()])
    return Envelope.new("invoice.approved", data, tenant_id=conn.tenant_id)


async def jobs_for(p: Pipeline, conn: Conn, events: list[Envelope]) -> list[dict[str, Any]]:
    """The exporter's jobs of the writes of ``events``."""
    t = exporter_models.jobs
    ids = [e.id for e in events]
    query = select(t).where(t.c.connection_id == conn.connection_id, t.c.source_event_id.in_(ids))
    async with p.engine.connect() as db:
        return [dict(r) for r in (await db.execute(query)).mappings()]


async def test_a_live_invoice_sent_during_a_backfill_reaches_qbo_before_the_backfills_tail(
    database_url: str, amqp_url: str, namespace: str, sandbox_url: str
) -> None:
    async with pipeline(database_url, amqp_url, namespace, sandbox_url) as p:
        a, b = await p.company(), await p.company()
        backfill = [invoice(a, n, "H") for n in range(HISTORY)]
        live_a, live_b = invoice(a, 0, "LIVE"), invoice(b, 0, "LIVE")
        p.gate.hold(a.realm_id)  # realm A's QBO calls wait: its backlog builds, nothing is lost

        body = b"\n".join(e.model_dump_json(exclude_none=True).encode() for e in backfill)
        answer = await p.mapper.http.post("/v1/events/bulk", content=body, headers=NDJSON)
        assert answer.status_code == 202, answer.text
        # Every history write is queued and the first round of them is in flight, held.
        await until(lambda: _count(jobs_for(p, a, backfill), 2 * HISTORY), timeout=120)
        await until(lambda: _true(p.gate.waiting > 0), timeout=60)
        for live in (live_a, live_b):
            sent = await p.mapper.http.post(
                "/v1/events", json=live.model_dump(mode="json", exclude_none=True)
            )
            assert sent.status_code == 202, sent.text
        await wait_for_jobs(p.engine, b.connection_id, count=2, timeout=60)
        await until(lambda: _recorded_not_written(jobs_for(p, a, [live_a]), 2), timeout=60)
        p.gate.release()
        jobs_a = await wait_for_jobs(p.engine, a.connection_id, count=2 * HISTORY + 2, timeout=240)
        jobs_b = await wait_for_jobs(p.engine, b.connection_id, count=2, timeout=5)
        written = await entities(p.sandbox, a.realm_id, "Invoice")

    assert [j["status"] for j in jobs_a + jobs_b] == ["succeeded"] * (2 * HISTORY + 4)
    ids = {i["DocNumber"]: int(i["Id"]) for i in written}
    history_ids = [ids[f"H-{n}"] for n in range(HISTORY)]
    # QBO numbers the company's objects in the order they are created.
    assert ids["LIVE-0"] < max(history_ids)
    assert sum(1 for i in history_ids if i > ids["LIVE-0"]) >= HISTORY - 30  # only the held round went first
    last_history = max(j["finished_at"] for j in jobs_a if j["source_event_id"] != live_a.id)
    live_b_done = max(j["finished_at"] for j in jobs_b)
    assert live_b_done < last_history


async def _count(rows: Any, expected: int) -> bool:
    return len(await rows) >= expected


async def _true(value: bool) -> bool:
    return value


async def _recorded_not_written(rows: Any, expected: int) -> bool:
    """Both writes of the live invoice (its customer and itself) are recorded, neither written yet."""
    found = await rows
    return len(found) == expected and not any(j["status"] in TERMINAL for j in found)
