"""History in bulk (architecture §5b): NDJSON ingest, batch progress and the dry run, on the real stack."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import httpx
import pytest

from shared.contracts import decode_data
from shared.contracts.envelope import Envelope
from shared.contracts.internal import ExportRequested
from tests.helpers.broker import bind_probe, envelopes
from tests.helpers.sandbox import free_port
from tests.integration.mapper.conftest import Mapper, mapper_with, unique, until
from tests.integration.mapper.test_service import prepared
from tests.unit.mapper import companies as c

pytestmark = pytest.mark.integration
NDJSON = {"Content-Type": "application/x-ndjson"}


def ndjson(*lines: Envelope | str) -> bytes:
    return "\n".join(
        e if isinstance(e, str) else e.model_dump_json(exclude_none=True) for e in lines
    ).encode()


def invoice_event(tenant: str, **overrides: Any) -> Envelope:
    return Envelope.new("invoice.approved", c.invoice(random_id=True, **overrides), tenant_id=tenant)


async def bulk(mapper: Mapper, body: bytes, **params: str) -> httpx.Response:
    return await mapper.http.post("/v1/events/bulk", content=body, headers=NDJSON, params=params)


async def events_of(mapper: Mapper, connection_id: str) -> list[dict[str, Any]]:
    answer = await mapper.http.get(f"/v1/connections/{connection_id}/events")
    assert answer.status_code == 200
    return list(answer.json()["events"])


async def test_a_bulk_file_names_each_bad_line_and_stages_the_good_ones_once_in_order(mapper: Mapper) -> None:
    tenant, connection_id, _ = await prepared(mapper)
    probe = await bind_probe(mapper.channel, mapper.namespace, ["qbo.export.requested", "sync.rejected"])
    first, second = invoice_event(tenant, number="H-1"), invoice_event(tenant, number="H-2")
    bad_quantity = invoice_event(tenant, lines=[c.sales_line(quantity="three")])
    other_tenant = invoice_event(unique("tenant"))
    body = ndjson(first, "{not json", bad_quantity, "", second, first, other_tenant)

    answer = await bulk(mapper, body)
    again = await bulk(mapper, ndjson(first, second))  # the same events once more: nothing twice
    received = await envelopes(probe, count=7, timeout=8)

    assert answer.status_code == 202, answer.text
    result = answer.json()
    assert result["accepted"] == 2
    problems = {r["line"]: [p["path"] for p in r["problems"]] for r in result["rejected"]}
    assert problems == {2: ["$"], 3: ["$.data.lines[0].quantity"], 6: ["$.id"], 7: ["$.tenantid"]}
    assert again.status_code == 202
    assert again.json()["accepted"] == 2
    assert [e.type for e in received] == ["qbo.export.requested"] * 6  # 3 writes each, once
    commands = [decode_data(e) for e in received]
    invoices = [i for i in commands if isinstance(i, ExportRequested) and i.entity == "Invoice"]
    # Once each; the mapper's consumer handles messages side by side, so arrival order is not a
    # contract (writes to one object are ordered by event time in the exporter instead).
    assert sorted(i.source_event_id for i in invoices) == sorted([first.id, second.id])
    assert {e["event_id"] for e in await events_of(mapper, connection_id)} == {first.id, second.id}


async def test_a_body_over_the_line_limit_is_refused_while_it_is_read(
    database_url: str, amqp_url: str, namespace: str
) -> None:
    async with mapper_with(
        database_url, amqp_url, namespace, bulk_max_lines=3, bulk_max_bytes=20_000
    ) as mapper:
        tenant, connection_id, _ = await prepared(mapper)
        four = ndjson(*(invoice_event(tenant) for _ in range(4)))
        too_big = ndjson(*(invoice_event(tenant) for _ in range(3))) + b" " * 20_000

        lines = await bulk(mapper, four)
        size = await bulk(mapper, too_big)
        wrong_type = await mapper.http.post("/v1/events/bulk", content=four[:10])

        assert lines.status_code == 413
        assert "more than 3 lines" in lines.text
        assert size.status_code == 413
        assert "20000 bytes" in size.text  # the service's limit for this route is the bulk limit
        assert wrong_type.status_code == 415
        assert await events_of(mapper, connection_id) == []


async def test_a_bulk_body_over_the_services_own_body_limit_is_taken_up_to_the_bulk_limit(
    mapper: Mapper,
) -> None:
    """The route takes files up to ``QBB_BULK_MAX_BYTES`` (64 MiB), past every other route's 1 MiB
    (make chaos: a 13-line history of 2 MB was refused 413 by the service's body limit)."""
    tenant, _, _ = await prepared(mapper)
    event = invoice_event(tenant)
    body = ndjson(event) + b"\n" + b" " * (2 * 1024 * 1024) + b"\n"  # a blank line: skipped, counted

    answer = await bulk(mapper, body)

    assert answer.status_code == 202, answer.text[:300]
    assert answer.json()["accepted"] == 1
    assert answer.json()["rejected"] == []


def sync_result(kind: str, tenant: str, event: Envelope, object_type: str, *, live: bool = False) -> Envelope:
    """What the exporter publishes of a write: a bulk line's in the history lane (``lane``)."""
    data: dict[str, Any] = {"object_type": object_type, "platform_id": "x", "source_event_id": event.id}
    if kind == "sync.succeeded":
        data |= {"qbo_id": "99", "operation": "create"}
    else:
        data |= {"code": "qbo_validation", "message": "QuickBooks said no"}
    return Envelope.new(kind, data, tenant_id=tenant, lane=None if live else "history")


async def batch(mapper: Mapper, batch_id: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return await mapper.http.get(f"/v1/batches/{batch_id}", headers=headers)


async def test_a_batch_is_followed_to_its_outcomes_until_done(mapper: Mapper) -> None:
    tenant, connection_id, _ = await prepared(mapper)
    ok, failing = invoice_event(tenant, number="B-1"), invoice_event(tenant, number="B-2")
    refused = invoice_event(tenant, lines=[c.sales_line(tax_rate="Atlantis")])
    answer = await bulk(mapper, ndjson(ok, failing, refused, "[]"))
    assert answer.status_code == 202, answer.text
    batch_id = answer.json()["batch_id"]
    await until(lambda: _mapped(mapper, connection_id, 3))

    at_first = (await batch(mapper, batch_id)).json()
    # What the exporter publishes: the customer an invoice ensures is not the invoice itself.
    await mapper.publish(sync_result("sync.succeeded", tenant, ok, "customer"))
    await mapper.publish(sync_result("sync.failed", tenant, failing, "invoice"))
    await until(lambda: _progress(mapper, batch_id, failed=1))
    meanwhile = (await batch(mapper, batch_id)).json()
    await mapper.publish(sync_result("sync.succeeded", tenant, ok, "invoice"))
    await until(lambda: _progress(mapper, batch_id, done=True))
    finally_ = (await batch(mapper, batch_id)).json()
    rerun = await bulk(mapper, ndjson(ok, failing, refused))  # the file again: no second result comes
    rerun_id = rerun.json()["batch_id"]
    await until(lambda: _progress(mapper, rerun_id, done=True), timeout=5)
    rerun_state = (await batch(mapper, rerun_id)).json()
    stranger = await batch(
        mapper, batch_id, {"Authorization": f"Bearer {await mapper.issue_key(unique('t'))}"}
    )

    counts = ("total", "pending", "succeeded", "failed", "rejected", "done")
    assert [at_first[k] for k in counts] == [4, 2, 0, 0, 2, False]
    assert [meanwhile[k] for k in counts] == [4, 1, 0, 1, 2, False]
    assert [finally_[k] for k in counts] == [4, 0, 1, 1, 2, True]
    assert [rerun_state[k] for k in counts] == [3, 0, 1, 1, 1, True]
    assert stranger.status_code == 404
    assert (await batch(mapper, "batch-none")).status_code == 404


async def test_a_live_writes_outcome_is_passed_over_before_any_transaction(mapper: Mapper) -> None:
    """Every write's outcome reaches the mapper's queue, but only a bulk line's counts: a live one
    (no ``lane``) is acked unread, where it cost a transaction (inbox claim and batch update) each."""
    tenant, connection_id, _ = await prepared(mapper)
    line = invoice_event(tenant, number="L-1")
    batch_id = (await bulk(mapper, ndjson(line))).json()["batch_id"]
    await until(lambda: _mapped(mapper, connection_id, 1))
    passed_over = await _passed_over(mapper)

    await mapper.publish(sync_result("sync.succeeded", tenant, line, "invoice", live=True))
    await until(lambda: _more(_passed_over(mapper), than=passed_over), timeout=10)
    after_live = (await batch(mapper, batch_id)).json()
    await mapper.publish(sync_result("sync.succeeded", tenant, line, "invoice"))
    await until(lambda: _progress(mapper, batch_id, done=True))
    after_line = (await batch(mapper, batch_id)).json()

    assert [after_live[k] for k in ("pending", "succeeded", "done")] == [1, 0, False]
    assert [after_line[k] for k in ("pending", "succeeded", "done")] == [0, 1, True]


async def _passed_over(mapper: Mapper) -> float:
    """The mapper's count of sync.succeeded messages its sync-results queue passed over."""
    text = (await mapper.http.get("/metrics")).text
    wanted = 'queue="mapper.sync-results"'
    lines = [x for x in text.splitlines() if x.startswith("qbb_events_consumed_total{") and wanted in x]
    return sum(float(x.rsplit(" ", 1)[1]) for x in lines if 'outcome="passed_over"' in x)


async def _more(count: Awaitable[float], *, than: float) -> bool:
    return await count > than


async def _mapped(mapper: Mapper, connection_id: str, count: int) -> bool:
    return len([e for e in await events_of(mapper, connection_id) if e["outcome"] != "waiting"]) == count


async def _progress(mapper: Mapper, batch_id: str, **expected: Any) -> bool:
    found = (await batch(mapper, batch_id)).json()
    return all(found.get(k) == v for k, v in expected.items())


async def test_a_dry_run_the_write_path_cannot_judge_says_so_and_writes_nothing(
    database_url: str, amqp_url: str, namespace: str
) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"  # no exporter there
    async with mapper_with(database_url, amqp_url, namespace, exporter_internal_url=nobody) as mapper:
        tenant, connection_id, _ = await prepared(mapper)
        probe = await bind_probe(mapper.channel, mapper.namespace, ["qbo.export.requested", "sync.rejected"])

        answer = await bulk(mapper, ndjson(invoice_event(tenant, number="D-1")), dry_run="true")
        written = await envelopes(probe, count=1, timeout=2)

        assert answer.status_code == 503
        assert "the exporter did not answer" in answer.text
        assert "nothing was written" in answer.text
        assert written == []
        assert await events_of(mapper, connection_id) == []


async def test_a_bulk_lines_writes_go_in_the_history_lane_and_a_single_events_stay_live(
    mapper: Mapper,
) -> None:
    tenant, _, _ = await prepared(mapper)
    probe = await bind_probe(mapper.channel, mapper.namespace, ["qbo.export.requested"])
    historic, live = invoice_event(tenant, number="L-1"), invoice_event(tenant, number="L-2")

    answer = await bulk(mapper, ndjson(historic))
    sent = await mapper.http.post("/v1/events", json=live.model_dump(mode="json", exclude_none=True))
    received = [decode_data(e) for e in await envelopes(probe, count=6, timeout=8)]

    assert answer.status_code == 202, answer.text
    assert sent.status_code == 202, sent.text
    lanes = {(c.source_event_id, c.lane) for c in received if isinstance(c, ExportRequested)}
    assert lanes == {(historic.id, "history"), (live.id, "live")}
    assert len(received) == 6  # every write of both: 3 each


async def _has_reference(mapper: Mapper, connection_id: str, kind: str) -> bool:
    answer = await mapper.http.get(f"/v1/connections/{connection_id}/reference/{kind}")
    return answer.status_code == 200 and bool(answer.json()["items"])


async def test_a_dry_run_in_summarized_mode_plans_the_days_journal_entry_not_invoices(mapper: Mapper) -> None:
    tenant, connection_id, realm = await prepared(mapper)
    master = {"Id": "90", "DisplayName": "Daily Sales", "Active": True}
    tax_account = {"Id": "38", "Name": "Sales Tax Payable", "AccountType": "Other Current Liability"}
    await mapper.mirror(realm, "Customer", [master])
    await mapper.mirror(realm, "Account", [tax_account])
    await until(lambda: _has_reference(mapper, connection_id, "customers"))
    settings = c.settings(fallback_item="Design").model_dump(mode="json")
    settings["posting"] = {"mode": "summarized_journal", "master_customer": "Daily Sales"}
    settings["accounts"] |= {
        "accounts_receivable": "Accounts Receivable (A/R)",
        "sales_tax": "Sales Tax Payable",
    }
    url = f"/v1/connections/{connection_id}/settings"
    assert (await mapper.http.put(url, json=settings)).status_code == 200
    first = invoice_event(tenant, number="S-1", issue_date="2026-11-02")
    second = invoice_event(tenant, number="S-2", issue_date="2026-11-02", customer=c.customer(code="NEWCO"))
    voided = Envelope.new("invoice.voided", {"invoice_id": first.data["invoice_id"]}, tenant_id=tenant)
    probe = await bind_probe(mapper.channel, mapper.namespace, ["qbo.export.requested", "sync.rejected"])

    answer = await bulk(mapper, ndjson(first, second, voided), dry_run="true")
    written = await envelopes(probe, count=1, timeout=2)

    assert answer.status_code == 200, answer.text
    plan = [(p["action"], p["entity"]) for p in answer.json()["plan"]]
    assert plan == [("create", "JournalEntry"), ("update", "JournalEntry"), ("update", "JournalEntry")]
    reasons = [p["reason"] for p in answer.json()["plan"]]
    assert "JournalEntry QBB-20261102" in reasons[0]
    assert "master customer 'Daily Sales'" in reasons[0]
    assert not any("Invoice" in r and "no Invoice" not in r for r in reasons)
    assert written == []
