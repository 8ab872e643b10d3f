"""The backfill command streams a history file through the bulk API and sums it up for a person."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from services.mapper import backfill
from shared.contracts.envelope import Envelope
from tests.integration.mapper.conftest import Mapper
from tests.integration.mapper.test_bulk import invoice_event
from tests.integration.mapper.test_service import prepared
from tests.unit.mapper import companies as c

pytestmark = pytest.mark.integration


async def test_a_file_goes_through_dry_then_for_real_with_rejected_lines_named_by_file_line(
    mapper: Mapper, tmp_path: Path
) -> None:
    tenant, connection_id, _ = await prepared(mapper)
    # No tenantid in the file: the command's --tenant fills it in.
    lines = [
        invoice_event(tenant, number="F-1").model_dump_json(exclude_none=True, exclude={"tenantid"}),
        "",
        "{broken",
        Envelope.new(
            "customer.upserted", c.customer(customer_id="cus_f"), tenant_id=tenant
        ).model_dump_json(),
    ]
    path = tmp_path / "history.ndjson"
    path.write_text("\n".join(lines) + "\n")
    bar = io.StringIO()

    dry = await backfill.run(mapper.http, path, tenant=tenant, dry_run=True, progress=bar)
    events_after_dry = (await mapper.http.get(f"/v1/connections/{connection_id}/events")).json()["events"]
    real = await backfill.run(mapper.http, path, tenant=tenant, dry_run=False, wait_seconds=1)

    assert dict(dry.counts) == {"create": 2, "reject": 1}
    assert [n for n, _ in dry.rejected] == [3]
    assert "3/3 lines" in bar.getvalue()
    assert events_after_dry == []
    assert [n for n, _ in real.rejected] == [3]
    assert len(real.batches) == 1
    assert real.counts["rejected"] == 1
    assert real.counts["pending"] + real.counts["succeeded"] == 2  # no exporter here: still pending
    shown = backfill.table(dry, dry_run=True)
    assert "create      2" in shown
    assert "line 3: $:" in shown
