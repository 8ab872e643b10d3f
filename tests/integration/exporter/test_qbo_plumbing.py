"""shared/qbo against real Postgres and the sandbox: realm limits, tokens from auth, the client."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.db import create_sessionmaker, migrate
from shared.qbo.client import QboClient
from shared.qbo.errors import ConnectionUnusable, QboPermanent, QboThrottled
from shared.qbo.limits import MIGRATIONS_DIR, SCHEMA, RealmLimiter, realm_leases, realm_throttles
from shared.qbo.tokens import AuthServiceTokens
from tests.helpers.sandbox import connect, create_app, create_company
from tests.helpers.statements import counting_statements
from tests.integration.exporter.kit import INTERNAL_TOKEN, REDIRECT, Conn, FakeAuth, Grant, requests_log, uid


@pytest.fixture
async def sessions(database_url: str, engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    await migrate(migrations_dir=MIGRATIONS_DIR, database_url=database_url, schema=SCHEMA)
    return create_sessionmaker(engine)


async def test_replicas_sharing_a_realm_never_exceed_its_concurrency(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    replicas = [RealmLimiter(sessions, concurrent=3, per_second=1000, per_minute=10000) for _ in range(2)]
    realm, in_flight, peak = uid("realm"), 0, 0

    async def call(limiter: RealmLimiter) -> None:
        nonlocal in_flight, peak
        async with limiter.slot(realm):
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.02)  # the QBO call being made
            in_flight -= 1

    async with asyncio.timeout(30):
        await asyncio.gather(*(call(replicas[i % 2]) for i in range(12)))
    assert 1 <= peak <= 3


async def test_two_replicas_sharing_a_realm_never_let_qbo_count_more_than_its_limits(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Each call is stamped when it starts and when it ends; QBO counts it somewhere in between, so
    no window of a second may hold more calls than the limit whichever instant QBO picked."""
    per_second, scale = 5, 10.0  # a second lasts 100 ms
    replicas = [RealmLimiter(sessions, per_second=per_second, time_scale=scale) for _ in range(2)]
    realm, spans = uid("realm"), list[tuple[float, float]]()

    async def call(limiter: RealmLimiter, i: int) -> None:
        async with limiter.slot(realm):
            started = time.monotonic()
            await asyncio.sleep(0.001 * (i % 7))  # calls of different lengths
            spans.append((started, time.monotonic()))

    async with asyncio.timeout(60):
        await asyncio.gather(*(call(replicas[i % 2], i) for i in range(40)))
    second = 1 / scale
    # Worst case for each window: every call that *could* have been counted in it was.
    for started, _ in spans:
        could = [s for s in spans if s[0] < started + second and s[1] > started]
        assert len(could) <= per_second, (started, could)


async def test_a_lease_that_runs_out_unspent_counts_its_calls_from_when_they_ended(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # One invoice at a time: a lease of a few calls serves one, then runs out unspent and closes.
    # Its call counted until a window after the lease *closed*, so each call held the realm's
    # per-second budget up to lease_seconds longer than QBO could count it, and the next calls
    # waited in the limiter (100-250 ms, the tail of the one-invoice-at-a-time benchmark).
    limiter = RealmLimiter(sessions, per_second=4, least=4, lease_seconds=2.0)
    realm = uid("realm")
    async with asyncio.timeout(30):
        async with limiter.slot(realm):
            pass  # the call, answered at once
        while True:  # the lease closes once its time is up (2 s): wait for its row to say so
            async with sessions() as session:
                row = (
                    await session.execute(
                        select(realm_leases.c.granted_at, realm_leases.c.closed_at).where(
                            realm_leases.c.realm_id == realm
                        )
                    )
                ).one()
            if row.closed_at is not None:
                break
            await asyncio.sleep(0.1)
    # Counted from when the call ended (just after the grant), not from the close two seconds on.
    assert (row.closed_at - row.granted_at).total_seconds() < 1.0


async def test_an_idle_realms_first_call_does_not_wait_behind_a_busy_realm(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    limiters = [RealmLimiter(sessions, per_second=3) for _ in range(2)]
    busy, idle, order = uid("realm"), uid("realm"), list[str]()

    async def call(limiter: RealmLimiter, realm: str, name: str) -> None:
        async with limiter.slot(realm):
            order.append(name)

    async with asyncio.timeout(30):
        await asyncio.gather(*(call(limiters[0], busy, "busy") for _ in range(3)))
        # The busy realm's second is spent: its next call waits about a second for the window.
        waiting = asyncio.create_task(call(limiters[0], busy, "busy waited"))
        await call(limiters[1], idle, "idle")
        await waiting
    assert order[-2:] == ["idle", "busy waited"]


async def test_a_throttled_realm_pauses_briefly_while_another_realm_goes_on(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    limiter = RealmLimiter(sessions)
    throttled, other = uid("realm"), uid("realm")
    await limiter.throttled(throttled, seconds=60)
    paused_at = time.monotonic()

    async def call(realm: str) -> float:
        async with limiter.slot(realm):
            return time.monotonic()

    waiting = asyncio.create_task(call(throttled))
    async with asyncio.timeout(10):
        await call(other)
    assert not waiting.done()
    # The first 429 pauses a second, not Intuit's whole minute (bounded well under it).
    async with asyncio.timeout(30):
        resumed = await waiting
    assert resumed - paused_at >= 0.9


async def test_429s_that_keep_coming_double_the_pause_and_a_retry_after_sets_it(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    limiter, realm = RealmLimiter(sessions, time_scale=10), uid("realm")
    pauses = []
    for retry_after in (None, None, None, 0.05):
        await limiter.throttled(realm, seconds=60, retry_after=retry_after)
        async with sessions() as session:
            pauses.append(
                (
                    await session.execute(
                        select(realm_throttles.c.pause_seconds).where(realm_throttles.c.realm_id == realm)
                    )
                ).scalar_one()
            )
    assert pauses == [0.1, 0.2, 0.4, 0.05]


@pytest.fixture
async def conn(sandbox: httpx.AsyncClient, auth: FakeAuth) -> Conn:
    realm_id = await create_company(sandbox)
    app = await create_app(sandbox, redirect_uris=[REDIRECT])
    tokens = await connect(sandbox, app=app, realm_id=realm_id, redirect_uri=REDIRECT)
    connection = Conn(uid("conn"), realm_id, uid("tenant"))
    auth.grants[connection.connection_id] = Grant(
        realm_id,
        app["client_id"],
        app["client_secret"],
        tokens["access_token"],
        tokens["refresh_token"],
        dt.datetime.now(dt.UTC).timestamp() + float(tokens["expires_in"]),
    )
    return connection


@pytest.fixture
async def client(auth: FakeAuth, sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[QboClient]:
    async with httpx.AsyncClient(timeout=30) as http:
        tokens = AuthServiceTokens(http=http, auth_url=auth.url, internal_token=INTERNAL_TOKEN)
        yield QboClient(http=http, tokens=tokens, limiter=RealmLimiter(sessions), throttle_pause_seconds=0.01)


async def test_tokens_are_fetched_once_then_cached_and_a_revoked_connection_is_unusable(
    auth: FakeAuth, conn: Conn
) -> None:
    async with httpx.AsyncClient() as http:
        tokens = AuthServiceTokens(http=http, auth_url=auth.url, internal_token=INTERNAL_TOKEN)
        first = await tokens.get(conn.connection_id)
        second = await tokens.get(conn.connection_id)
        calls = auth.calls
        auth.grants[conn.connection_id].status = "revoked"
        with pytest.raises(ConnectionUnusable) as caught:
            await tokens.get(conn.connection_id, force_refresh=True)
    assert first == second
    assert calls == 1
    assert first.realm_id == conn.realm_id
    assert caught.value.status == "revoked"
    assert first.access_token not in repr(first)


async def test_the_client_reads_pages_batches_voids_and_deletes(client: QboClient, conn: Conn) -> None:
    cid = conn.connection_id
    customers = [row async for row in client.query_all(cid, "Customer", page_size=2)]
    requestid = uid("r")
    made = await client.create(cid, "Customer", {"DisplayName": uid("Client")}, requestid=requestid)
    replayed = await client.create(cid, "Customer", {"DisplayName": "ignored"}, requestid=requestid)
    item = (await client.query(cid, "SELECT * FROM Item MAXRESULTS 1"))["Item"][0]
    line = {
        "Amount": 5.0,
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {"ItemRef": {"value": item["Id"]}, "Qty": 1, "UnitPrice": 5.0},
    }
    answers = await client.batch(
        cid,
        [
            {
                "bId": "b0",
                "operation": "create",
                "Invoice": {"CustomerRef": {"value": made["Id"]}, "Line": [line]},
            },
            {
                "bId": "b1",
                "operation": "create",
                "Invoice": {"CustomerRef": {"value": "999999"}, "Line": [line]},
            },
        ],
        requestid=uid("b"),
    )
    invoice = answers[0]["Invoice"] if answers[0]["bId"] == "b0" else answers[1]["Invoice"]
    voided = await client.void(
        cid, "Invoice", qbo_id=invoice["Id"], sync_token=invoice["SyncToken"], requestid=uid("v")
    )
    deleted = await client.delete(
        cid, "Invoice", qbo_id=voided["Id"], sync_token=voided["SyncToken"], requestid=uid("d")
    )
    info = await client.company_info(cid)
    changed = await client.cdc(cid, ["Customer"], dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))
    assert len(customers) == len({c["Id"] for c in customers}) > 2
    assert (replayed["Id"], replayed["DisplayName"]) == (made["Id"], made["DisplayName"])
    assert sorted("Fault" in a for a in answers) == [False, True]
    assert deleted.get("status") == "Deleted"
    assert info["CompanyName"]
    assert made["Id"] in [c["Id"] for c in changed["Customer"]]


async def test_a_fault_keeps_its_code_and_tid_and_a_429_throttles_the_realm(
    client: QboClient, conn: Conn, sandbox: httpx.AsyncClient
) -> None:
    with pytest.raises(QboPermanent) as refused:
        await client.create(conn.connection_id, "Customer", {"DisplayName": "x" * 600}, requestid=uid("r"))
    (
        await sandbox.put("/admin/faults", json={"realm_id": conn.realm_id, "throttle_next": 1})
    ).raise_for_status()
    try:
        with pytest.raises(QboThrottled):  # a write goes back to its caller, which owns its retries
            await client.create(conn.connection_id, "Customer", {"DisplayName": uid("c")}, requestid=uid("r"))
    finally:
        (await sandbox.delete("/admin/faults", params={"realm_id": conn.realm_id})).raise_for_status()
    tids = {r["intuit_tid"] for r in await requests_log(sandbox, conn.realm_id)}
    assert refused.value.code == "2050"
    assert refused.value.fault.intuit_tid in tids


async def test_a_throttled_read_waits_out_the_realms_pause_and_is_answered(
    client: QboClient, conn: Conn, sandbox: httpx.AsyncClient
) -> None:
    (
        await sandbox.put("/admin/faults", json={"realm_id": conn.realm_id, "throttle_next": 1})
    ).raise_for_status()
    try:
        info = await client.company_info(conn.connection_id)
    finally:
        (await sandbox.delete("/admin/faults", params={"realm_id": conn.realm_id})).raise_for_status()
    faults = [r["fault_code"] for r in await requests_log(sandbox, conn.realm_id)]
    assert info["Id"] == conn.realm_id or info.get("CompanyName")
    assert faults.count("3001") == 1


async def test_a_closed_limiter_gives_its_leases_back_at_once_and_leaves_no_work_behind(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # A stopping service left its open leases to their timers: in a process about to exit, the
    # timer never fired (the realm's budget stayed held until the lease went stale), and in one
    # event loop shared with others the return ran later, through an engine already disposed,
    # and could be cut off pending when the loop closed.
    limiter = RealmLimiter(sessions, per_second=10, least=5, lease_seconds=60.0)
    realms = [uid("realm"), uid("realm")]
    for realm in realms:  # one call each, then the lease sits open with 4 calls unspent
        async with limiter.slot(realm):
            pass
    async with limiter.slot(realms[1], batch=True):
        pass
    await limiter.aclose()
    async with sessions() as session:
        rows = (
            await session.execute(
                select(realm_leases.c.realm_id, realm_leases.c.calls, realm_leases.c.closed_at).where(
                    realm_leases.c.realm_id.in_(realms)
                )
            )
        ).all()
    assert sorted((r.realm_id, r.calls) for r in rows) == sorted(
        [(realms[0], 1), (realms[1], 1), (realms[1], 1)]
    )
    assert all(r.closed_at is not None for r in rows)
    pending = [t for t in asyncio.all_tasks() if "RealmLimiter" in repr(t.get_coro())]
    assert pending == []


async def test_a_lease_costs_the_database_three_statements_and_its_return_one(
    sessions: async_sessionmaker[AsyncSession], engine: AsyncEngine
) -> None:
    # A grant read the database's clock, the realm's pause and its leases in three statements and
    # wrote the lease and pruned old ones in two more, then gave the lease back in a transaction of
    # its own: eleven round trips a lease with BEGIN and COMMIT; a realm writing one invoice at a
    # time pays them for each call.
    limiter = RealmLimiter(sessions, per_second=1000, per_minute=10000, least=1, lease_seconds=0.05)
    realm = uid("realm")
    limiter_statements = (  # the limiter's, then and now (not the pool's pings of idle connections)
        "SELECT pg_advisory_xact_lock",
        "SELECT clock_timestamp",
        "SELECT qbo_limits.",
        "SELECT n.now",
        "INSERT INTO qbo_limits.",
        "WITH gone",
        "UPDATE qbo_limits.",
        "DELETE FROM qbo_limits.",
    )
    with counting_statements(limiter_statements, on=engine.sync_engine) as statements:
        for _ in range(5):
            async with limiter.slot(realm):
                pass
            await asyncio.sleep(0.1)  # the lease ends unspent and is given back
        await asyncio.sleep(0.1)
    # Each lease: lock, state, insert; its close (outside a transaction).
    assert sum(statements.values()) == 5 * 4, dict(statements)
