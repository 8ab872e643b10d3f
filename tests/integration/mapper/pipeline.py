"""The mapper and the exporter in this event loop against the sandbox: the write path a bulk file takes.

Each test gets its own namespace, connections of new sandbox companies (announced to both services),
the mapper's mirror of each company's lists as the webhooks service would import them, and the
exporter's jobs table to read what was written in which order.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from services.exporter import handlers as exporter_handlers
from services.mapper.reference import MIRRORED
from shared.contracts.envelope import Envelope
from shared.contracts.internal import CompanyProfile, ConnectionEstablished
from shared.db import create_engine
from tests.helpers.broker import delete_namespace
from tests.helpers.sandbox import connect, create_app, create_company
from tests.integration.exporter.kit import (
    REDIRECT,
    Conn,
    FakeAuth,
    Grant,
    running_fake_auth,
    serving_exporter,
    settings_for,
    uid,
    wait_for_connection,
)
from tests.integration.mapper.conftest import Mapper, mapper_with, until
from tests.integration.mapper.qbo_writer import entities
from tests.unit.mapper import companies as c

PROFILE = CompanyProfile(
    name="Sandbox Co",
    country="US",
    home_currency="USD",
    edition="QuickBooks Online Plus",
    custom_txn_numbers=True,
)


class Gate(httpx.AsyncBaseTransport):
    """The exporter's way to QBO, holding one realm's calls while closed (an outage of that realm,
    ended by the test when it chooses, not after a guessed time); everything else goes through."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._open = asyncio.Event()
        self.held_realm: str | None = None
        self.waiting = 0

    def hold(self, realm_id: str) -> None:
        self.held_realm = realm_id
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.held_realm and f"/company/{self.held_realm}/" in request.url.path and not self._open.is_set():
            self.waiting += 1
            await self._open.wait()
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass
class Pipeline:
    mapper: Mapper
    sandbox: httpx.AsyncClient
    auth: FakeAuth
    engine: AsyncEngine
    exporter_url: str
    gate: Gate

    async def company(self) -> Conn:
        """A new sandbox company connected for a new tenant, known to both services, lists imported."""
        realm_id = await create_company(self.sandbox, custom_txn_numbers=True)
        app = await create_app(self.sandbox, redirect_uris=[REDIRECT])
        tokens = await connect(self.sandbox, app=app, realm_id=realm_id, redirect_uri=REDIRECT)
        conn = Conn(uid("conn"), realm_id, uid("tenant"))
        self.auth.grants[conn.connection_id] = Grant(
            realm_id,
            app["client_id"],
            app["client_secret"],
            tokens["access_token"],
            tokens["refresh_token"],
            time.time() + float(tokens["expires_in"]),
        )
        data = ConnectionEstablished(
            connection_id=conn.connection_id, tenant_id=conn.tenant_id, realm_id=realm_id, company=PROFILE
        )
        await self.mapper.publish(Envelope.new("connection.established", data, tenant_id=conn.tenant_id))
        await wait_for_connection(self.engine, conn, "active")
        await until(lambda: self._answers(f"/v1/connections/{conn.connection_id}/settings"))
        counts = await self._mirror(realm_id)
        await self.mapper.import_ended(conn.connection_id, realm_id, counts)
        body = c.settings().model_dump(mode="json")
        put = await self.mapper.http.put(f"/v1/connections/{conn.connection_id}/settings", json=body)
        assert put.status_code == 200, put.text
        return conn

    async def _mirror(self, realm_id: str) -> dict[str, int]:
        """What the webhooks service's reference import publishes for the company."""
        counts: dict[str, int] = {}
        for entity in sorted(MIRRORED):
            rows = await entities(self.sandbox, realm_id, entity)
            await self.mapper.mirror(realm_id, entity, rows)
            counts[entity] = len(rows)
        return counts

    async def _answers(self, path: str) -> bool:
        return (await self.mapper.http.get(path)).status_code == 200

    async def qbo_create(self, conn: Conn, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        """An object made in QBO by someone else (the company's own history), through its API."""
        token = self.auth.grants[conn.connection_id].access_token
        answer = await self.sandbox.post(
            f"/v3/company/{conn.realm_id}/{entity.lower()}",
            json=body,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )
        assert answer.status_code == 200, answer.text
        made: dict[str, Any] = answer.json()[entity]
        return made

    async def qbo_requests(self, realm_id: str) -> list[dict[str, Any]]:
        """The sandbox's log of the realm's API calls, oldest first."""
        answer = await self.sandbox.get("/admin/requests", params={"realm_id": realm_id})
        answer.raise_for_status()
        found: list[dict[str, Any]] = answer.json()
        return found


@contextlib.asynccontextmanager
async def pipeline(
    database_url: str, amqp_url: str, namespace: str, sandbox_url: str, **exporter: Any
) -> AsyncIterator[Pipeline]:
    """The mapper and the exporter (its QBO calls through a ``Gate``) serving one namespace."""
    gate = Gate()
    engine = create_engine(database_url, application_name="qbb-tests", pool_size=2)
    try:
        async with (
            httpx.AsyncClient(base_url=sandbox_url, timeout=30) as sandbox,
            running_fake_auth(sandbox_url) as auth,
        ):
            settings = settings_for(database_url, amqp_url, namespace, auth_url=auth.url, **exporter)
            exporter_url = f"http://127.0.0.1:{settings.http_port}"
            async with (
                mapper_with(database_url, amqp_url, namespace, exporter_internal_url=exporter_url) as mapper,
                serving_exporter(settings, transport=gate),
            ):
                try:
                    yield Pipeline(mapper, sandbox, auth, engine, exporter_url, gate)
                finally:
                    gate.release()  # or the exporter's stop would wait for a held call forever
    finally:
        await engine.dispose()
        await delete_namespace(amqp_url, namespace, [exporter_handlers.router])
