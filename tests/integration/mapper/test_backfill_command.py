"""The backfill command streams a history file through the bulk API and sums it up for a person."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from services.mapper import backfill
from shared.contracts.envelope import Envelope
from tests.integration.mapper.pipeline import pipeline
from tests.unit.mapper import companies as c

pytestmark = pytest.mark.integration


async def test_a_file_goes_through_dry_then_for_real_with_rejected_lines_named_by_file_line(
    database_url: str, amqp_url: str, namespace: str, sandbox_url: str, tmp_path: Path
) -> None:
    async with pipeline(database_url, amqp_url, namespace, sandbox_url) as p:
        conn = await p.company()
        tenant = conn.tenant_id
        invoice = c.invoice(random_id=True, number="F-1", lines=[c.sales_line()])
        # No tenantid in the file: the command's --tenant fills it in.
        lines = [
            Envelope.new("invoice.approved", invoice).model_dump_json(exclude_none=True),
            "",
            "{broken",
            Envelope.new(
                "customer.upserted", c.customer(customer_id="cus_f", code="FILE-C"), tenant_id=tenant
            ).model_dump_json(),
        ]
        path = tmp_path / "history.ndjson"
        path.write_text("\n".join(lines) + "\n")
        bar = io.StringIO()
        events = f"/v1/connections/{conn.connection_id}/events"

        dry = await backfill.run(p.mapper.http, path, tenant=tenant, dry_run=True, progress=bar)
        events_after_dry = (await p.mapper.http.get(events)).json()["events"]
        real = await backfill.run(p.mapper.http, path, tenant=tenant, dry_run=False, wait_seconds=120)

    assert dict(dry.counts) == {"create": 2, "reject": 1}
    assert [n for n, _ in dry.rejected] == [3]
    assert "3/3 lines" in bar.getvalue()
    assert events_after_dry == []
    assert [n for n, _ in real.rejected] == [3]
    assert len(real.batches) == 1
    assert dict(real.counts) == {"succeeded": 2, "failed": 0, "rejected": 1, "pending": 0}
    shown = backfill.table(dry, dry_run=True)
    assert "create      2" in shown
    assert "line 3: $:" in shown
    assert "succeeded      2" in backfill.table(real, dry_run=False)
