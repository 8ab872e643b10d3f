"""Every QBO call leaves a CLIENT span (realm, endpoint, status, fault code, intuit_tid) and metrics."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import httpx
import pytest
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.db import create_sessionmaker, migrate
from shared.qbo.client import QboClient
from shared.qbo.errors import QboThrottled
from shared.qbo.limits import MIGRATIONS_DIR, SCHEMA, RealmLimiter
from shared.qbo.tokens import AuthServiceTokens
from tests.helpers.sandbox import connect, create_app, create_company
from tests.helpers.spans import recorded_spans
from tests.integration.exporter.kit import INTERNAL_TOKEN, REDIRECT, Conn, FakeAuth, Grant, requests_log, uid


@pytest.fixture
async def client(
    auth: FakeAuth, database_url: str, engine: AsyncEngine
) -> AsyncIterator[tuple[QboClient, async_sessionmaker[AsyncSession]]]:
    await migrate(migrations_dir=MIGRATIONS_DIR, database_url=database_url, schema=SCHEMA)
    sessions = create_sessionmaker(engine)
    async with httpx.AsyncClient(timeout=30) as http:
        tokens = AuthServiceTokens(http=http, auth_url=auth.url, internal_token=INTERNAL_TOKEN)
        yield (
            QboClient(http=http, tokens=tokens, limiter=RealmLimiter(sessions), throttle_pause_seconds=0.01),
            sessions,
        )


@pytest.fixture
async def conn(sandbox: httpx.AsyncClient, auth: FakeAuth) -> Conn:
    realm_id = await create_company(sandbox)
    app = await create_app(sandbox, redirect_uris=[REDIRECT])
    tokens = await connect(sandbox, app=app, realm_id=realm_id, redirect_uri=REDIRECT)
    connection = Conn(uid("conn"), realm_id, uid("tenant"))
    expires = dt.datetime.now(dt.UTC).timestamp() + float(tokens["expires_in"])
    auth.grants[connection.connection_id] = Grant(
        realm_id,
        app["client_id"],
        app["client_secret"],
        tokens["access_token"],
        tokens["refresh_token"],
        expires,
    )
    return connection


def _calls(status: str, endpoint: str = "customer") -> float:
    total = 0.0
    for metric in REGISTRY.collect():
        if metric.name == "qbb_qbo_requests":
            total += sum(
                s.value
                for s in metric.samples
                if s.name.endswith("_total")
                and s.labels["status"] == status
                and s.labels["endpoint"] == endpoint
            )
    return total


async def test_a_throttled_call_is_counted_as_a_429_and_its_span_names_realm_fault_and_tid(
    client: tuple[QboClient, async_sessionmaker[AsyncSession]], conn: Conn, sandbox: httpx.AsyncClient
) -> None:
    qbo, _ = client
    spans = recorded_spans()
    ok_before, throttled_before = _calls("200"), _calls("429")
    waits_before = REGISTRY.get_sample_value("qbb_qbo_limiter_wait_seconds_count", {"batch": "false"}) or 0
    await qbo.read(conn.connection_id, "Customer", "1")
    (
        await sandbox.put("/admin/faults", json={"realm_id": conn.realm_id, "throttle_next": 1})
    ).raise_for_status()
    try:
        with pytest.raises(QboThrottled):  # a write: a read would wait out the pause and ask again
            await qbo.create(conn.connection_id, "Customer", {"DisplayName": uid("c")}, requestid=uid("r"))
    finally:
        (await sandbox.delete("/admin/faults", params={"realm_id": conn.realm_id})).raise_for_status()

    assert _calls("200") == ok_before + 1
    assert _calls("429") == throttled_before + 1
    assert (
        REGISTRY.get_sample_value("qbb_qbo_limiter_wait_seconds_count", {"batch": "false"})
        == waits_before + 2
    )
    mine = [
        s
        for s in spans.get_finished_spans()
        if s.kind == SpanKind.CLIENT and (s.attributes or {}).get("qbo.realm_id") == conn.realm_id
    ]
    assert [(s.attributes or {})["http.response.status_code"] for s in mine] == [200, 429]
    throttled = mine[1]
    assert throttled.status.status_code == StatusCode.ERROR
    assert (throttled.attributes or {})["qbo.endpoint"] == "customer"
    assert (throttled.attributes or {})["qbo.fault_code"]
    tids = {r["intuit_tid"] for r in await requests_log(sandbox, conn.realm_id)}
    assert (throttled.attributes or {})["qbo.intuit_tid"] in tids
