"""Running the exporter against the sandbox in tests: a stand-in for auth's token endpoint, connected
realms, exports to publish, and bounded waits on the jobs table and the sandbox."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import functools
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from aio_pika.abc import AbstractChannel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.exporter import models
from services.exporter.app import DEFINITION, make_deps
from services.exporter.settings import ExporterSettings
from shared.contracts.envelope import Envelope
from shared.contracts.internal import (
    CompanyProfile,
    ConnectionEstablished,
    ConnectionRevoked,
    ExportRequested,
)
from tests.helpers.broker import publish
from tests.helpers.running import serving
from tests.helpers.sandbox import connect, create_app, create_company, free_port

INTERNAL_TOKEN = "dev-internal-token"
ADMIN_KEY = "dev-admin-key"
REDIRECT = "http://localhost:9999/callback"
TERMINAL = ("succeeded", "failed", "skipped")


@dataclass
class Grant:
    realm_id: str
    client_id: str
    client_secret: str
    access_token: str
    refresh_token: str
    expires_at: float
    status: str = "active"
    refreshes: int = 0


@dataclass
class FakeAuth:
    """Auth's internal access-token endpoint, refreshing at the sandbox: the edge the exporter calls."""

    sandbox_url: str
    grants: dict[str, Grant] = field(default_factory=dict)
    url: str = ""
    calls: int = 0

    async def access_token(self, request: Request) -> JSONResponse:
        self.calls += 1
        if request.headers.get("authorization") != f"Bearer {INTERNAL_TOKEN}":
            return JSONResponse({"detail": "internal only"}, status_code=403)
        grant = self.grants.get(request.path_params["connection_id"])
        if grant is None:
            return JSONResponse({"detail": "no such connection"}, status_code=404)
        if grant.status != "active":
            return JSONResponse(
                {"detail": f"connection is {grant.status}", "status": grant.status}, status_code=409
            )
        if request.query_params.get("force_refresh") == "true" or grant.expires_at < time.time() + 60:
            await self._refresh(grant)
        expires = dt.datetime.fromtimestamp(grant.expires_at, dt.UTC)
        return JSONResponse(
            {
                "access_token": grant.access_token,
                "realm_id": grant.realm_id,
                "api_base": self.sandbox_url,
                "expires_at": expires.isoformat(),
            }
        )

    async def _refresh(self, grant: Grant) -> None:
        async with httpx.AsyncClient(base_url=self.sandbox_url) as client:
            response = await client.post(
                "/oauth2/v1/tokens/bearer",
                data={"grant_type": "refresh_token", "refresh_token": grant.refresh_token},
                auth=(grant.client_id, grant.client_secret),
                headers={"Accept": "application/json"},
            )
        response.raise_for_status()
        body = response.json()
        grant.access_token, grant.refresh_token = body["access_token"], body["refresh_token"]
        grant.expires_at = time.time() + float(body["expires_in"])
        grant.refreshes += 1


@contextlib.asynccontextmanager
async def running_fake_auth(sandbox_url: str) -> AsyncIterator[FakeAuth]:
    auth = FakeAuth(sandbox_url=sandbox_url)
    app = Starlette(
        routes=[Route("/internal/v1/connections/{connection_id}/access-token", auth.access_token)]
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:
            await asyncio.sleep(0.01)
    auth.url = f"http://127.0.0.1:{port}"
    try:
        yield auth
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)


@dataclass(frozen=True)
class Conn:
    connection_id: str
    realm_id: str
    tenant_id: str


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def connect_realm(
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    namespace: str,
    engine: AsyncEngine,
    **company: Any,
) -> Conn:
    """A new sandbox company connected through a new app, announced with ``connection.established``."""
    realm_id = await create_company(sandbox, **company)
    app = await create_app(sandbox, redirect_uris=[REDIRECT])
    tokens = await connect(sandbox, app=app, realm_id=realm_id, redirect_uri=REDIRECT)
    conn = Conn(uid("conn"), realm_id, uid("tenant"))
    auth.grants[conn.connection_id] = Grant(
        realm_id,
        app["client_id"],
        app["client_secret"],
        tokens["access_token"],
        tokens["refresh_token"],
        time.time() + float(tokens["expires_in"]),
    )
    await announce(channel, namespace, conn, engine)
    return conn


async def announce(channel: AbstractChannel, namespace: str, conn: Conn, engine: AsyncEngine) -> None:
    """``connection.established``, once the exporter has taken it in (so later events keep their order)."""
    profile = CompanyProfile(
        name="Test Co", country="US", home_currency="USD", edition="QuickBooks Online Plus"
    )
    data = ConnectionEstablished(
        connection_id=conn.connection_id, tenant_id=conn.tenant_id, realm_id=conn.realm_id, company=profile
    )
    await publish(channel, namespace, Envelope.new("connection.established", data, tenant_id=conn.tenant_id))
    await wait_for_connection(engine, conn, "active")


async def announce_revoked(channel: AbstractChannel, namespace: str, conn: Conn, engine: AsyncEngine) -> None:
    data = ConnectionRevoked(
        connection_id=conn.connection_id, tenant_id=conn.tenant_id, realm_id=conn.realm_id
    )
    await publish(channel, namespace, Envelope.new("connection.revoked", data, tenant_id=conn.tenant_id))
    await wait_for_connection(engine, conn, "revoked")


async def wait_for_connection(engine: AsyncEngine, conn: Conn, status: str, timeout: float = 15.0) -> None:
    """Wait (bounded) until the exporter's view of the connection has ``status``."""
    t = models.connections
    query = select(t.c.status).where(t.c.connection_id == conn.connection_id)
    async with asyncio.timeout(timeout):
        while True:
            async with engine.connect() as db:
                if (await db.execute(query)).scalar_one_or_none() == status:
                    return
            await asyncio.sleep(0.05)


def export(
    conn: Conn,
    *,
    entity: str = "Customer",
    platform_id: str | None = None,
    operation: str = "create",
    payload: dict[str, Any] | None = None,
    match: tuple[str, str] | dict[str, Any] | None = None,
    depends_on: Iterable[dict[str, str]] = (),
    source_event_id: str | None = None,
    event_time: dt.datetime | None = None,
    if_absent: str = "wait",
    after: list[dict[str, str]] | None = None,
    lane: str = "live",
) -> Envelope:
    """A ``qbo.export.requested`` envelope as the mapper would publish it."""
    data = ExportRequested(
        connection_id=conn.connection_id,
        realm_id=conn.realm_id,
        entity=entity,
        operation=operation,
        match={"field": match[0], "value": match[1]} if isinstance(match, tuple) else match,
        payload=payload or {},
        depends_on=list(depends_on),
        source_event_id=source_event_id or uid("evt"),
        platform_id=platform_id or uid("p"),
        object_type=entity.lower(),
        event_time=event_time,
        if_absent=if_absent,
        after=after or [],
        lane=lane,
    )
    return Envelope.new("qbo.export.requested", data, tenant_id=conn.tenant_id, realm_id=conn.realm_id)


def customer(conn: Conn, name: str | None = None, **kw: Any) -> Envelope:
    """A customer create matched by DisplayName."""
    display = name or uid("Customer")
    return export(conn, payload={"DisplayName": display}, match=("DisplayName", display), **kw)


def settings_for(
    database_url: str, amqp_url: str, namespace: str, *, auth_url: str, **overrides: Any
) -> ExporterSettings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "amqp_url": amqp_url,
        "amqp_namespace": namespace,
        "http_port": free_port(),
        "environment": "test",
        "auth_internal_url": auth_url,
        "poll_seconds": 0.2,
        "retry_delays": (0.2, 0.5, 1.0),
        "throttle_pause_seconds": 1.0,
        "lease_seconds": 3.0,
        **overrides,
    }
    return ExporterSettings(**values)


@contextlib.asynccontextmanager
async def serving_exporter(
    settings: ExporterSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> AsyncIterator[str]:
    """The exporter in this event loop through the real runtime; yields its base URL."""
    definition = dataclasses.replace(DEFINITION, make_deps=functools.partial(make_deps, transport=transport))
    async with serving(definition, settings):
        yield f"http://127.0.0.1:{settings.http_port}"


async def jobs_of(engine: AsyncEngine, connection_id: str) -> list[dict[str, Any]]:
    t = models.jobs
    async with engine.connect() as conn:
        rows = await conn.execute(select(t).where(t.c.connection_id == connection_id).order_by(t.c.seq))
        return [dict(r) for r in rows.mappings()]


async def wait_for_jobs(
    engine: AsyncEngine,
    connection_id: str,
    *,
    count: int,
    done: Callable[[dict[str, Any]], bool] = lambda j: j["status"] in TERMINAL,
    timeout: float = 30.0,
) -> list[dict[str, Any]]:
    """Wait (bounded) until ``count`` jobs of the connection satisfy ``done``; return all its jobs."""
    jobs: list[dict[str, Any]] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            while True:
                jobs = await jobs_of(engine, connection_id)
                if sum(1 for j in jobs if done(j)) >= count:
                    break
                await asyncio.sleep(0.05)
    return jobs


async def entities(sandbox: httpx.AsyncClient, realm_id: str, entity: str) -> list[dict[str, Any]]:
    response = await sandbox.get(f"/admin/companies/{realm_id}/entities/{entity}")
    response.raise_for_status()
    found: list[dict[str, Any]] = response.json()
    return found


async def requests_log(sandbox: httpx.AsyncClient, realm_id: str) -> list[dict[str, Any]]:
    response = await sandbox.get("/admin/requests", params={"realm_id": realm_id})
    response.raise_for_status()
    found: list[dict[str, Any]] = response.json()
    return found
