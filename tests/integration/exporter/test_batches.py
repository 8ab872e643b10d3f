"""Writes waiting for one realm go in batches; each item's fault is that item's alone."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator

import httpx
from aio_pika.abc import AbstractChannel
from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.exporter import repository
from services.exporter.models import jobs as jobs_table
from services.exporter.models import links
from services.exporter.settings import ExporterSettings
from shared.contracts.envelope import Envelope
from shared.db import create_engine
from tests.helpers.broker import bind_probe, envelopes, publish
from tests.helpers.statements import compiled_each_time, counting_statements
from tests.integration.exporter.kit import (
    Conn,
    FakeAuth,
    announce,
    announce_revoked,
    connect_realm,
    customer,
    entities,
    export,
    jobs_of,
    requests_log,
    serving_exporter,
    settings_for,
    uid,
    wait_for_jobs,
)


async def test_waiting_writes_go_in_one_batch_where_bad_items_fail_and_good_ones_land(
    database_url: str,
    amqp_url: str,
    namespace: str,
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    engine: AsyncEngine,
) -> None:
    probe = await bind_probe(channel, namespace, ["sync.failed"])
    async with serving_exporter(settings_for(database_url, amqp_url, namespace, auth_url=auth.url)):
        conn = await connect_realm(sandbox, auth, channel, namespace, engine)
        # Parked behind a revoked connection, the writes pile up, then resume together.
        await announce_revoked(channel, namespace, conn, engine)
        good = [uid("Batch Customer") for _ in range(5)]
        bad = [uid("Too long") + "x" * 500 for _ in range(2)]
        for name in good + bad:
            await publish(channel, namespace, customer(conn, name))
        await wait_for_jobs(engine, conn.connection_id, count=7, done=lambda j: j["status"] == "parked")
        await announce(channel, namespace, conn, engine)
        jobs = await wait_for_jobs(engine, conn.connection_id, count=7)
        failures = await envelopes(probe, count=2, timeout=10)
    outcome = {j["match_value"]: (j["status"], j["error_code"]) for j in jobs}
    assert outcome == {**{n: ("succeeded", None) for n in good}, **{n: ("failed", "2050") for n in bad}}
    names = {c["DisplayName"] for c in await entities(sandbox, conn.realm_id, "Customer")}
    assert set(good) <= names
    calls = await requests_log(sandbox, conn.realm_id)
    writes = [r["operation"] for r in calls if r["path"].startswith("/v3/") and r["operation"] != "query"]
    assert writes == ["batch"]
    assert sorted(e.data["code"] for e in failures) == ["2050", "2050"]


async def test_a_realm_with_a_backlog_keeps_several_batches_in_flight_each_object_written_once(
    database_url: str,
    amqp_url: str,
    namespace: str,
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    engine: AsyncEngine,
) -> None:
    # One round at a time, a realm with a backlog sends a batch, waits for QBO, records, and only
    # then claims the next: three batches behind a slow QBO take three answers' time end to end.
    settings = settings_for(database_url, amqp_url, namespace, auth_url=auth.url, realm_rounds=3)
    latency_seconds = 2.0
    async with serving_exporter(settings):
        conn = await connect_realm(sandbox, auth, channel, namespace, engine)
        await announce_revoked(channel, namespace, conn, engine)
        names = [uid("Backlog Customer") for _ in range(90)]
        for name in names:
            await publish(channel, namespace, customer(conn, name))
        await wait_for_jobs(engine, conn.connection_id, count=90, done=lambda j: j["status"] == "parked")
        slow = {"realm_id": conn.realm_id, "latency_ms": latency_seconds * 1000, "path_contains": "/batch"}
        (await sandbox.put("/admin/faults", json=slow)).raise_for_status()
        try:
            await announce(channel, namespace, conn, engine)
            jobs = await wait_for_jobs(engine, conn.connection_id, count=90, timeout=60)
        finally:
            (await sandbox.delete("/admin/faults", params={"realm_id": conn.realm_id})).raise_for_status()
    assert {j["status"] for j in jobs} == {"succeeded"}
    created = [c["DisplayName"] for c in await entities(sandbox, conn.realm_id, "Customer")]
    assert sorted(n for n in created if n in set(names)) == sorted(names)  # each once
    calls = [r for r in await requests_log(sandbox, conn.realm_id) if r["operation"] == "batch"]
    assert [len(r["items"]) for r in calls] == [30, 30, 30]
    # Answered (logged) within one answer's time of each other: the three were in flight together.
    times = sorted(dt.datetime.fromisoformat(r["time"]) for r in calls)
    assert (times[-1] - times[0]).total_seconds() < latency_seconds


@contextlib.asynccontextmanager
async def _a_slow_round_in_flight(
    settings: ExporterSettings,
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    namespace: str,
    engine: AsyncEngine,
    *,
    latency_ms: float,
) -> AsyncIterator[tuple[Conn, Conn]]:
    """The exporter serving with ``settings`` and a round of one realm (the first yielded) waiting
    ``latency_ms`` for QBO's answer; the second yielded is another realm, connected."""
    async with serving_exporter(settings):
        slow = await connect_realm(sandbox, auth, channel, namespace, engine)
        other = await connect_realm(sandbox, auth, channel, namespace, engine)
        slow_realm = {"realm_id": slow.realm_id, "latency_ms": latency_ms}
        (await sandbox.put("/admin/faults", json=slow_realm)).raise_for_status()
        try:
            await publish(channel, namespace, customer(slow, uid("Slow Customer")))
            await wait_for_jobs(engine, slow.connection_id, count=1, done=lambda j: j["status"] == "running")
            yield slow, other
        finally:
            (await sandbox.delete("/admin/faults", params={"realm_id": slow.realm_id})).raise_for_status()


async def test_while_young_rounds_take_every_slot_a_realms_writes_gather_and_go_in_one_batch(
    database_url: str,
    amqp_url: str,
    namespace: str,
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    engine: AsyncEngine,
) -> None:
    # One slot, held by the slow round: each customer below is recorded alone, and claimed the
    # moment it was recorded it would go in a call of its own (five calls).
    settings = settings_for(
        database_url, amqp_url, namespace, auth_url=auth.url, round_slots=1, round_young_seconds=30.0
    )
    slow_round = _a_slow_round_in_flight(settings, sandbox, auth, channel, namespace, engine, latency_ms=3000)
    async with slow_round as (_, busy):
        names = [uid("Gathered Customer") for _ in range(5)]
        for n, name in enumerate(names, start=1):
            await publish(channel, namespace, customer(busy, name))
            await wait_for_jobs(engine, busy.connection_id, count=n, done=lambda j: True)
        jobs = await wait_for_jobs(engine, busy.connection_id, count=5, timeout=20)
    assert {j["status"] for j in jobs} == {"succeeded"}
    calls = await requests_log(sandbox, busy.realm_id)
    writes = [r for r in calls if r["path"].startswith("/v3/") and r["operation"] != "query"]
    assert [(r["operation"], len(r.get("items") or ())) for r in writes] == [("batch", 5)]


async def test_a_round_slow_in_qbo_holds_no_slot_once_it_is_no_longer_young(
    database_url: str,
    amqp_url: str,
    namespace: str,
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    engine: AsyncEngine,
) -> None:
    # No poll to fall back on: the dispatcher wakes itself when the slow round stops holding its slot.
    settings = settings_for(
        database_url,
        amqp_url,
        namespace,
        auth_url=auth.url,
        round_slots=1,
        round_young_seconds=0.3,
        poll_seconds=30.0,
    )
    slow_round = _a_slow_round_in_flight(settings, sandbox, auth, channel, namespace, engine, latency_ms=5000)
    async with slow_round as (slow, other):
        await publish(channel, namespace, customer(other, uid("Other Customer")))
        jobs = await wait_for_jobs(engine, other.connection_id, count=1, timeout=3)
        slow_jobs = await jobs_of(engine, slow.connection_id)
    # Written while the slow realm's call was still waiting for QBO's answer.
    assert [j["status"] for j in jobs] == ["succeeded"]
    assert [j["status"] for j in slow_jobs] == ["running"]


async def test_a_realm_whose_due_writes_all_wait_takes_no_slot_from_a_realm_with_one_ready(
    database_url: str,
    amqp_url: str,
    namespace: str,
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    engine: AsyncEngine,
) -> None:
    # One place a claim, by either limit: a round slot, and claim_limit / batch_size.
    settings = settings_for(
        database_url, amqp_url, namespace, auth_url=auth.url, round_slots=1, claim_limit=30
    )
    async with serving_exporter(settings):
        stuck = await connect_realm(sandbox, auth, channel, namespace, engine)
        ready = await connect_realm(sandbox, auth, channel, namespace, engine)
        # The stuck realm's invoice waits for a customer never sent; its update, queued and older
        # than anything of the other realm, waits for that create: due, and not ready for an hour.
        invoice, missing = uid("inv"), [{"entity": "Customer", "platform_id": uid("never-sent")}]
        await publish(
            channel, namespace, export(stuck, entity="Invoice", platform_id=invoice, depends_on=missing)
        )
        await wait_for_jobs(engine, stuck.connection_id, count=1, done=lambda j: j["status"] == "parked")
        update = export(stuck, entity="Invoice", platform_id=invoice, operation="update")
        await publish(channel, namespace, update)
        await wait_for_jobs(engine, stuck.connection_id, count=1, done=lambda j: j["status"] == "queued")
        try:
            await publish(channel, namespace, customer(ready, uid("Ready Customer")))
            jobs = await wait_for_jobs(engine, ready.connection_id, count=1, timeout=5)
            stuck_jobs = await jobs_of(engine, stuck.connection_id)
        finally:  # the stuck realm would be every later claim's oldest candidate in this database
            async with engine.begin() as conn:
                await conn.execute(
                    delete(jobs_table).where(jobs_table.c.connection_id == stuck.connection_id)
                )
    assert [j["status"] for j in jobs] == ["succeeded"]
    assert [(j["operation"], j["status"]) for j in stuck_jobs] == [("create", "parked"), ("update", "queued")]


async def test_a_burst_of_requests_is_recorded_and_written_a_batch_at_a_time_in_delivery_order(
    database_url: str,
    amqp_url: str,
    namespace: str,
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    engine: AsyncEngine,
) -> None:
    settings = settings_for(database_url, amqp_url, namespace, auth_url=auth.url)
    conn, burst = await _waiting_burst(settings, sandbox, auth, channel, engine, pairs=15)
    recorded, linked = "INSERT INTO exporter.jobs", "INSERT INTO exporter.links"
    with counting_statements((recorded, linked)) as statements:
        async with serving_exporter(settings):
            jobs = await wait_for_jobs(engine, conn.connection_id, count=len(burst))

    assert [j["source_event_id"] for j in jobs] == [e.data["source_event_id"] for e in burst]  # by seq
    assert {j["status"] for j in jobs} == {"succeeded"}
    qbo_ids = {j["platform_id"]: j["qbo_id"] for j in jobs if j["entity"] == "Customer"}
    invoices = {i["DocNumber"]: i for i in await entities(sandbox, conn.realm_id, "Invoice")}
    for request in burst[1::2]:
        stored = invoices[request.data["payload"]["DocNumber"]]
        assert stored["CustomerRef"]["value"] == qbo_ids[request.data["depends_on"][0]["platform_id"]]
    # A batch of requests is one insert of jobs, and a round's writes one insert of links, not one each.
    assert 0 < statements[recorded] < len(burst) / 2, dict(statements)
    assert 0 < statements[linked] < len(burst) / 2, dict(statements)


async def test_a_burst_is_recorded_and_written_with_statements_compiled_once_not_for_each_round(
    database_url: str,
    amqp_url: str,
    namespace: str,
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    engine: AsyncEngine,
) -> None:
    """The multi-row inserts of jobs, links, inbox claims and outbox rows had no cache key: SQLAlchemy
    compiled each afresh for every batch and round. Now each is one cached statement."""
    settings = settings_for(database_url, amqp_url, namespace, auth_url=auth.url)
    conn, burst = await _waiting_burst(settings, sandbox, auth, channel, engine, pairs=5)
    with compiled_each_time() as compiled:
        async with serving_exporter(settings):
            jobs = await wait_for_jobs(engine, conn.connection_id, count=len(burst))

    assert {j["status"] for j in jobs} == {"succeeded"}
    assert dict(compiled) == {}


async def _waiting_burst(
    settings: ExporterSettings,
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    engine: AsyncEngine,
    *,
    pairs: int,
) -> tuple[Conn, list[Envelope]]:
    """A connected realm and ``pairs`` customers each followed by its invoice (so the invoice is
    recorded waiting for it), published while the exporter is stopped: the burst waits in its queue."""
    async with serving_exporter(settings):
        conn = await connect_realm(
            sandbox, auth, channel, settings.amqp_namespace, engine, custom_txn_numbers=True
        )
        item = (await entities(sandbox, conn.realm_id, "Item"))[0]
    burst = []
    for _ in range(pairs):
        platform_id, number = uid("cus"), uid("INV")[:20]
        burst += [customer(conn, platform_id=platform_id), invoice_of(conn, platform_id, item["Id"], number)]
    for envelope in burst:
        await publish(channel, settings.amqp_namespace, envelope)
    return conn, burst


def invoice_of(conn: Conn, customer_id: str, item_id: str, number: str) -> Envelope:
    """An invoice of one line for the customer the exporter knows as ``customer_id``."""
    return export(
        conn,
        entity="Invoice",
        platform_id=uid("inv"),
        match=("DocNumber", number),
        payload={
            "DocNumber": number,
            "CustomerRef": {"$link": {"entity": "Customer", "platform_id": customer_id}},
            "Line": [
                {
                    "Amount": 10.0,
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {"ItemRef": {"value": item_id}, "Qty": 1, "UnitPrice": 10.0},
                }
            ],
        },
        depends_on=[{"entity": "Customer", "platform_id": customer_id}],
    )


async def test_queued_repeats_of_a_customers_create_end_with_it_and_a_different_write_breaks_the_run(
    database_url: str,
    amqp_url: str,
    namespace: str,
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    engine: AsyncEngine,
) -> None:
    """Every invoice of a billing run ensures its customer: the same create, queued behind the first
    (writes to one object go one at a time). Each took a round of its own to find the customer
    linked and unchanged; now they end with the first, never claimed. A different write of the
    customer between them is written in its turn, and so is the same create again after it."""
    async with serving_exporter(settings_for(database_url, amqp_url, namespace, auth_url=auth.url)):
        conn = await connect_realm(sandbox, auth, channel, namespace, engine)
        await announce_revoked(channel, namespace, conn, engine)  # the run waits, then goes at once
        name = uid("Run Customer")
        run = [customer(conn, name, platform_id="cus_run") for _ in range(6)]
        changed = export(
            conn,
            platform_id="cus_run",
            payload={"DisplayName": name, "CompanyName": "Changed Ltd"},
            match=("DisplayName", name),
        )
        again = customer(conn, name, platform_id="cus_run")
        for envelope in [*run, changed, again]:
            await publish(channel, namespace, envelope)
        await wait_for_jobs(engine, conn.connection_id, count=8, done=lambda j: j["status"] == "parked")
        await announce(channel, namespace, conn, engine)
        jobs = await wait_for_jobs(engine, conn.connection_id, count=8)
        async with engine.connect() as db:
            link_time = (
                await db.execute(
                    select(links.c.event_time).where(
                        links.c.connection_id == conn.connection_id, links.c.platform_id == "cus_run"
                    )
                )
            ).scalar_one()
    by_event = {j["source_event_id"]: j for j in jobs}
    ordered = [by_event[e.data["source_event_id"]] for e in [*run, changed, again]]
    assert [(j["status"], j["attempts"]) for j in ordered] == [
        ("succeeded", 1),
        *[("succeeded", 0)] * 5,
        ("succeeded", 1),
        ("succeeded", 1),
    ]
    assert len({j["qbo_id"] for j in ordered}) == 1
    calls = await requests_log(sandbox, conn.realm_id)
    writes = [r["operation"] for r in calls if r["path"].startswith("/v3/") and r["operation"] != "query"]
    assert writes == ["create", "update", "update"]
    assert link_time == ordered[-1]["created_at"]


async def test_the_dispatchers_claim_is_one_statement_on_a_pool_opened_with_its_planner_settings(
    database_url: str,
    amqp_url: str,
    namespace: str,
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    engine: AsyncEngine,
) -> None:
    """Each claim made its planner settings for a transaction of its own: BEGIN, the settings, the
    claim, COMMIT. Its pool's connections now open with them, and the claim goes alone."""
    claims = (repository.CLAIM_PLANNING_PREFIX, "WITH RECURSIVE realms")
    with counting_statements(claims) as statements:
        async with serving_exporter(settings_for(database_url, amqp_url, namespace, auth_url=auth.url)):
            conn = await connect_realm(sandbox, auth, channel, namespace, engine)
            await publish(channel, namespace, customer(conn))
            jobs = await wait_for_jobs(engine, conn.connection_id, count=1)
    pool = create_engine(
        database_url, application_name="qbb-tests", pool_size=1, server_settings=repository.CLAIM_PLANNING
    )
    try:
        async with pool.connect() as db:
            shown = {
                name: (await db.execute(text(f"SHOW {name}"))).scalar() for name in repository.CLAIM_PLANNING
            }
    finally:
        await pool.dispose()

    assert [j["status"] for j in jobs] == ["succeeded"]
    assert statements["WITH RECURSIVE realms"] >= 1
    assert statements[repository.CLAIM_PLANNING_PREFIX] == 0
    assert shown == repository.CLAIM_PLANNING
