"""The write path's cost: a claim that reads only what it returns, fair to realms and lanes; one
QBO call for a known customer's invoice; the QBO write continuing the trace of its message."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aio_pika.abc import AbstractChannel
from opentelemetry.trace import SpanKind
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.exporter import repository
from tests.helpers.broker import publish
from tests.helpers.spans import hex_ids, recorded_spans, wait_for_span
from tests.integration.exporter.kit import (
    FakeAuth,
    connect_realm,
    customer,
    entities,
    export,
    requests_log,
    serving_exporter,
    settings_for,
    uid,
    wait_for_jobs,
)

_ROWS = text("""
WITH p AS (SELECT CAST(:realm AS text) AS realm, CAST(:tag AS text) AS tag, CAST(:status AS text) AS status)
INSERT INTO exporter.jobs (id, connection_id, realm_id, entity, operation, object_type, platform_id,
                           source_event_id, requestid, payload, status, history, finished_at)
SELECT gen_random_uuid()::text, p.realm, p.realm, 'Customer', 'create', 'customer',
       p.realm || '-' || p.tag || '-' || n, 'e-' || p.tag || '-' || n, md5(p.realm || p.tag || n),
       '{}'::jsonb,
       p.status, CAST(:history AS boolean), CASE WHEN p.status = 'succeeded' THEN now() END
FROM p, generate_series(1, CAST(:count AS integer)) n
""")


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A transaction rolled back at the end: the rows a test adds are never seen by another."""
    async with AsyncSession(engine) as session, session.begin():
        yield session
        await session.rollback()


async def add_jobs(
    session: AsyncSession, realm: str, *, count: int, status: str = "queued", history: bool = False
) -> None:
    params = {
        "realm": realm,
        "tag": uuid.uuid4().hex[:6],
        "count": count,
        "status": status,
        "history": history,
    }
    await session.execute(_ROWS, params)


async def claim(session: AsyncSession, *, realms: int, busy: list[str]) -> list[Any]:
    # Among the 20 oldest realms, as the dispatcher's claim: other tests' realms whose due jobs all
    # wait (committed beside these) take no place.
    return await repository.claim(
        session,
        worker="w-test",
        realms=realms,
        candidates=20,
        per_realm=30,
        lease_seconds=30,
        busy_realms=busy,
    )


async def test_a_round_takes_a_batch_from_each_realm_oldest_first_live_before_history_and_busy_ones_not(
    session: AsyncSession,
) -> None:
    oldest, history_only, second, busy, later = (uid("realm") for _ in range(5))
    await add_jobs(session, oldest, count=2, history=True)  # a backfill queued before the live writes
    await add_jobs(session, history_only, count=3, history=True)
    await add_jobs(session, oldest, count=40)
    await add_jobs(session, busy, count=10)
    await add_jobs(session, second, count=5)
    await add_jobs(session, later, count=5)
    ours = {oldest, history_only, second, busy, later}

    rows = [r for r in await claim(session, realms=100, busy=[busy]) if r["realm_id"] in ours]
    taken = Counter((r["realm_id"], r["history"]) for r in rows)

    assert taken == {(oldest, False): 30, (second, False): 5, (later, False): 5, (history_only, True): 3}
    rest = [r for r in await claim(session, realms=100, busy=[busy]) if r["realm_id"] in ours]
    # The oldest realm's history comes once its live writes are all taken.
    assert Counter((r["realm_id"], r["history"]) for r in rest) == {(oldest, False): 10, (oldest, True): 2}


async def test_realms_are_taken_oldest_waiting_first_when_a_round_takes_fewer_than_all(
    session: AsyncSession,
) -> None:
    first, second, third = (uid("realm") for _ in range(3))
    for realm in (first, second, third):
        await add_jobs(session, realm, count=2)
    taken = []
    for _ in range(3):
        taken += [r["realm_id"] for r in await claim(session, realms=1, busy=[])]
    mine = [realm for realm in dict.fromkeys(taken) if realm in (first, second, third)]
    assert mine == [first, second, third]


async def test_the_claim_reads_only_what_it_returns_whatever_the_history_and_the_busy_backlog(
    session: AsyncSession,
) -> None:
    busy, idle = uid("realm"), uid("realm")
    await add_jobs(session, uid("realm"), count=20_000, status="succeeded")
    await add_jobs(session, busy, count=5_000)  # a backlog this process is writing already
    await add_jobs(session, idle, count=3)
    await session.execute(text("ANALYZE exporter.jobs"))

    plan = await explain_claim(session, busy=[busy])

    read = rows_read(plan["Plan"])
    claimed = plan["Plan"]["Actual Rows"]
    assert claimed >= 3
    # A probe per realm with claimable rows and the rows claimed, not the 25,000 others.
    assert read < 300, f"the claim read {read} rows of exporter.jobs to claim {claimed}"


async def test_a_realm_with_a_ready_backlog_gives_its_batch_without_reading_the_rest(
    session: AsyncSession,
) -> None:
    # The planner guessed that few of a realm's queued jobs pass the readiness checks, so it read
    # the realm's whole backlog through a bitmap scan, checked every job and sorted them to take
    # 30: 146 ms a round beside a 5,000-job backlog (EXPLAIN ANALYZE on the benchmark's database),
    # and the rows read per invoice grew with the backlog (bench-quick: 2.1x the empty table's).
    backlog = uid("realm")
    await add_jobs(session, backlog, count=5_000)
    await session.execute(text("ANALYZE exporter.jobs"))

    before = await jobs_rows_read(session)
    rows = await claim(session, realms=20, busy=[])
    read = await jobs_rows_read(session) - before

    assert sum(1 for r in rows if r["realm_id"] == backlog) == 30
    assert read < 300, f"the claim read {read} rows of exporter.jobs to claim {len(rows)}"


async def jobs_rows_read(session: AsyncSession) -> int:
    """Rows of exporter.jobs this transaction has read so far (scans and index fetches)."""
    found = await session.execute(
        text("""SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)
                FROM pg_stat_xact_user_tables WHERE schemaname = 'exporter' AND relname = 'jobs'""")
    )
    return int(found.scalar_one())


async def explain_claim(session: AsyncSession, *, busy: list[str]) -> dict[str, Any]:
    sql = "EXPLAIN (ANALYZE, FORMAT JSON) " + str(repository._CLAIM.text)
    params = {
        "worker": "w-test",
        "realms": 20,
        "candidates": 20,
        "per_realm": 30,
        "lease": 30,
        "busy": busy,
        "held": [],
    }
    (raw,) = (await session.execute(text(sql), params)).one()
    found: dict[str, Any] = (json.loads(raw) if isinstance(raw, str) else raw)[0]
    return found


def rows_read(node: dict[str, Any]) -> int:
    """Rows of exporter.jobs the plan's scans produced or filtered out, over all their loops."""
    own = 0
    if node.get("Relation Name") == "jobs" and "Scan" in node["Node Type"]:
        loops = node.get("Actual Loops", 1)
        own = (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)) * loops
    return own + sum(rows_read(child) for child in node.get("Plans", []))


async def test_an_invoice_for_a_known_customer_is_one_qbo_call(
    database_url: str,
    amqp_url: str,
    namespace: str,
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    engine: AsyncEngine,
) -> None:
    async with serving_exporter(settings_for(database_url, amqp_url, namespace, auth_url=auth.url)):
        conn = await connect_realm(sandbox, auth, channel, namespace, engine, custom_txn_numbers=True)
        item = str((await entities(sandbox, conn.realm_id, "Item"))[0]["Id"])
        await publish(channel, namespace, customer(conn, name=uid("cus"), platform_id="cus"))
        await wait_for_jobs(engine, conn.connection_id, count=1)
        before = len(await requests_log(sandbox, conn.realm_id))
        await publish(channel, namespace, invoice(conn, item_id=item, number=uid("N")[:20]))
        jobs = await wait_for_jobs(engine, conn.connection_id, count=2)
        calls = (await requests_log(sandbox, conn.realm_id))[before:]

    assert [j["status"] for j in jobs] == ["succeeded", "succeeded"]
    assert [c["operation"] for c in calls if c["path"].startswith("/v3/")] == ["create"]


async def test_the_qbo_write_is_a_child_of_the_span_that_consumed_its_export_request(
    database_url: str,
    amqp_url: str,
    namespace: str,
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    engine: AsyncEngine,
) -> None:
    spans = recorded_spans()
    async with serving_exporter(settings_for(database_url, amqp_url, namespace, auth_url=auth.url)):
        conn = await connect_realm(sandbox, auth, channel, namespace, engine)
        event = customer(conn, name=uid("Traced"))
        await publish(channel, namespace, event)
        await wait_for_jobs(engine, conn.connection_id, count=1)
        consume = await wait_for_span(
            spans,
            lambda s: (
                s.kind == SpanKind.CONSUMER and (s.attributes or {}).get("messaging.message.id") == event.id
            ),
            timeout=10,
        )
        write = await wait_for_span(
            spans,
            lambda s: (
                s.kind == SpanKind.CLIENT
                and (s.attributes or {}).get("qbo.realm_id") == conn.realm_id
                and (s.attributes or {}).get("http.request.method") == "POST"
            ),
            timeout=10,
        )

    assert hex_ids(write)[0] == hex_ids(consume)[0]
    assert write.parent is not None
    assert format(write.parent.span_id, "016x") == hex_ids(consume)[1]


def invoice(conn: Any, *, item_id: str, number: str) -> Any:
    party = {"$link": {"entity": "Customer", "platform_id": "cus"}}
    line = {
        "Amount": 20.0,
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {"ItemRef": {"value": item_id}, "Qty": 1, "UnitPrice": 20.0},
    }
    match = {
        "field": "DocNumber",
        "value": number,
        "party_field": "CustomerRef",
        "party": party,
        "total": "20.00",
    }
    payload = {"CustomerRef": party, "Line": [line], "DocNumber": number}
    return export(conn, entity="Invoice", platform_id="inv", payload=payload, match=match)


async def test_renewing_leases_skips_jobs_another_transaction_holds_instead_of_waiting(
    engine: AsyncEngine,
) -> None:
    """The heartbeat waited for the lock of a job whose round was recording its outcome, taking its
    rows in another order than that round: Postgres saw a deadlock and failed one of them."""
    realm = uid("realm")
    async with AsyncSession(engine) as setup, setup.begin():
        await add_jobs(setup, realm, count=2, status="running")
        await setup.execute(
            text("UPDATE exporter.jobs SET claimed_by = 'w-test', lease_until = now() WHERE realm_id = :r"),
            {"r": realm},
        )
    ids = sorted(await _job_ids(engine, realm))
    try:
        async with AsyncSession(engine) as holder, holder.begin():
            await holder.execute(
                text("SELECT 1 FROM exporter.jobs WHERE id = :id FOR UPDATE"), {"id": ids[0]}
            )
            async with asyncio.timeout(10), AsyncSession(engine) as heartbeat, heartbeat.begin():
                await repository.renew_leases(heartbeat, worker="w-test", job_ids=ids, lease_seconds=300)
        async with engine.connect() as conn:
            renewed = (
                (
                    await conn.execute(
                        text(
                            "SELECT id FROM exporter.jobs"
                            " WHERE realm_id = :r AND lease_until > now() + interval '1 minute'"
                        ),
                        {"r": realm},
                    )
                )
                .scalars()
                .all()
            )
        assert renewed == [ids[1]]
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM exporter.jobs WHERE realm_id = :r"), {"r": realm})


async def _job_ids(engine: AsyncEngine, realm: str) -> list[str]:
    async with engine.connect() as conn:
        found = await conn.execute(text("SELECT id FROM exporter.jobs WHERE realm_id = :r"), {"r": realm})
        return [str(i) for i in found.scalars().all()]


async def test_a_dispatcher_never_takes_again_the_jobs_a_round_of_its_own_still_holds(
    session: AsyncSession,
) -> None:
    # A round that stalled past its lease (the database away for 30 s) stops sending, but its jobs are
    # due again in the database. Once a realm with rounds in flight could be claimed again, the same
    # process took them back as a new round, which reset their local leases: the stalled round would
    # have sent them too, and its end would have dropped the new round's bookkeeping.
    realm = uid("realm")
    await add_jobs(session, realm, count=3, status="running")
    await session.execute(
        text("""UPDATE exporter.jobs SET claimed_by = 'w-test', lease_until = now() - interval '1 second'
                WHERE realm_id = :r"""),
        {"r": realm},
    )
    found = await session.execute(text("SELECT id FROM exporter.jobs WHERE realm_id = :r"), {"r": realm})
    ids = sorted(found.scalars())

    again = await repository.claim(
        session, worker="w-test", realms=20, per_realm=30, lease_seconds=30, busy_realms=[], held=ids[:2]
    )
    assert [r["id"] for r in again if r["realm_id"] == realm] == [ids[2]]
    # Not held here any more (its round ended, or another process claims): taken again, in doubt.
    rest = await repository.claim(
        session, worker="w-other", realms=20, per_realm=30, lease_seconds=30, busy_realms=[], held=[]
    )
    taken = {r["id"]: r["in_doubt"] for r in rest if r["realm_id"] == realm}
    assert taken == {ids[0]: True, ids[1]: True}
