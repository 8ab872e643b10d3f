"""A bulk dry run over a company that already has some of the customers and invoices (issue 13): links
are reported exactly where the write path would link, and nothing is written."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from services.exporter import models as exporter_models
from shared.contracts.envelope import Envelope
from tests.integration.exporter.kit import Conn, wait_for_jobs
from tests.integration.mapper.pipeline import Pipeline, pipeline
from tests.integration.mapper.qbo_writer import entities
from tests.unit.mapper import companies as c

pytestmark = pytest.mark.integration
NDJSON = {"Content-Type": "application/x-ndjson"}


def customer(conn: Conn, code: str) -> Envelope:
    data = c.customer(customer_id=f"cus_{code}", code=code, name=f"{code} Ltd", company_name=f"{code} Ltd")
    return Envelope.new("customer.upserted", data, tenant_id=conn.tenant_id)


def invoice(conn: Conn, number: str, code: str) -> Envelope:
    owner = c.customer(customer_id=f"cus_{code}", code=code, name=f"{code} Ltd", company_name=f"{code} Ltd")
    data = c.invoice(random_id=True, number=number, customer=owner, lines=[c.sales_line()])  # 3 x 75.00
    return Envelope.new("invoice.approved", data, tenant_id=conn.tenant_id)


async def history_in_qbo(p: Pipeline, conn: Conn) -> dict[str, str]:
    """What the company had before the bridge: customer KNOWN with invoice K-1 (225.00), and K-2 of
    another customer. Returns their QBO ids."""
    known = await p.qbo_create(conn, "Customer", {"DisplayName": "KNOWN"})
    other = await p.qbo_create(conn, "Customer", {"DisplayName": "SOMEONE ELSE"})
    design = next(i for i in await entities(p.sandbox, conn.realm_id, "Item") if i["Name"] == "Design")
    line = {
        "Amount": 225.0,
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {"ItemRef": {"value": design["Id"]}, "Qty": 3, "UnitPrice": 75},
    }
    k1 = await p.qbo_create(
        conn, "Invoice", {"DocNumber": "K-1", "CustomerRef": {"value": known["Id"]}, "Line": [line]}
    )
    k2 = await p.qbo_create(
        conn, "Invoice", {"DocNumber": "K-2", "CustomerRef": {"value": other["Id"]}, "Line": [line]}
    )
    return {"KNOWN": known["Id"], "K-1": k1["Id"], "K-2": k2["Id"]}


async def job_count(p: Pipeline, conn: Conn) -> int:
    t = exporter_models.jobs
    query = select(func.count()).select_from(t).where(t.c.connection_id == conn.connection_id)
    async with p.engine.connect() as db:
        return int((await db.execute(query)).scalar_one())


async def test_a_dry_run_links_where_the_write_path_would_and_writes_nothing(
    database_url: str, amqp_url: str, namespace: str, sandbox_url: str
) -> None:
    async with pipeline(database_url, amqp_url, namespace, sandbox_url) as p:
        conn = await p.company()
        ids = await history_in_qbo(p, conn)
        written = customer(conn, "WRITTEN")  # one the bridge wrote earlier: the exporter links it
        sent = await p.mapper.http.post("/v1/events", json=written.model_dump(mode="json", exclude_none=True))
        assert sent.status_code == 202, sent.text
        [job] = await wait_for_jobs(p.engine, conn.connection_id, count=1)
        before = len(await p.qbo_requests(conn.realm_id))
        lines = [
            customer(conn, "KNOWN"),
            invoice(conn, "K-1", "KNOWN"),
            invoice(conn, "K-2", "KNOWN"),
            invoice(conn, "N-1", "NEWCO"),
            customer(conn, "WRITTEN"),
        ]
        body = b"\n".join(e.model_dump_json(exclude_none=True).encode() for e in lines) + b'\n{"id": 1}'

        answer = await p.mapper.http.post(
            "/v1/events/bulk", content=body, headers=NDJSON, params={"dry_run": "true"}
        )
        during = (await p.qbo_requests(conn.realm_id))[before:]
        jobs_after = await job_count(p, conn)
        events = (await p.mapper.http.get(f"/v1/connections/{conn.connection_id}/events")).json()["events"]

    assert answer.status_code == 200, answer.text
    plan = {s["line"]: s for s in answer.json()["plan"]}
    assert [plan[n]["action"] for n in range(1, 7)] == [
        "link",
        "link",
        "reject",
        "create",
        "update",
        "reject",
    ]
    assert (plan[1]["entity"], plan[1]["qbo_id"]) == ("Customer", ids["KNOWN"])
    assert "DisplayName 'KNOWN'" in plan[1]["reason"]
    assert (plan[2]["entity"], plan[2]["qbo_id"]) == ("Invoice", ids["K-1"])
    assert "DocNumber 'K-1', the same customer" in plan[2]["reason"]
    assert f"link Customer {ids['KNOWN']} 'cus_KNOWN'" in plan[2]["reason"]
    assert f"already used in QuickBooks by Invoice {ids['K-2']}" in plan[3]["reason"]  # another's number
    assert (plan[4]["entity"], plan[4]["qbo_id"]) == ("Invoice", None)
    assert "create Customer 'cus_NEWCO'" in plan[4]["reason"]
    assert (plan[5]["entity"], plan[5]["qbo_id"]) == ("Customer", job["qbo_id"])  # the exporter's link
    assert "$.id" in plan[6]["reason"] or "$.specversion" in plan[6]["reason"]
    # Nothing written: QBO was only queried, no job was recorded, the mapper kept no event.
    assert during, "the dry run asked QBO"
    assert {(r["method"], r["path"].rsplit("/", 1)[-1]) for r in during} <= {
        ("GET", "query"),
        ("POST", "query"),
    }
    assert jobs_after == 1
    assert [e["event_id"] for e in events] == [written.id]
