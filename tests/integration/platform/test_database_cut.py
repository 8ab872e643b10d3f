"""A request whose database connection is cut mid-use gets 503 with Retry-After (not 500), and the
next one succeeds on a new connection (``make chaos`` saw a 500 from ``POST /v1/events`` when
Postgres terminated the mapper's backends)."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from sqlalchemy import text

from shared import runtime
from shared.db import create_engine, create_sessionmaker
from shared.http import Resources, SessionDep
from tests.helpers import testkit
from tests.helpers.broker import broker_channel
from tests.helpers.running import settings_for
from tests.integration.platform.test_connection_pool import _cut

pytestmark = pytest.mark.integration

probe = APIRouter()


@probe.get("/probe")
async def backend(session: SessionDep) -> dict[str, Any]:
    return {"pid": (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()}


async def test_a_request_on_a_cut_database_connection_gets_503_and_the_next_one_succeeds(
    database_url: str, amqp_url: str, namespace: str
) -> None:
    # One connection, never pinged: the cut shows in the request's own transaction.
    engine = create_engine(
        database_url, application_name="qbb-tests-cut", pool_size=1, idle_ping_seconds=3600
    )
    definition = dataclasses.replace(testkit.DEFINITION, routes=probe)
    try:
        async with broker_channel(amqp_url) as (connection, _channel):
            res = Resources(
                settings_for(database_url, amqp_url, namespace),
                engine,
                create_sessionmaker(engine),
                connection,
            )
            app = runtime.create_app(definition, res)
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
                first = await client.get("/probe")
                await _cut(database_url, first.json()["pid"])
                cut = await client.get("/probe")
                after = await client.get("/probe")
    finally:
        await engine.dispose()

    assert first.status_code == 200
    assert cut.status_code == 503, cut.text
    assert cut.headers["retry-after"] == "1"
    assert "database" in cut.json()["detail"]
    assert after.status_code == 200
    assert after.json()["pid"] != first.json()["pid"]
