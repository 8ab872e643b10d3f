"""Running the webhooks service in-process against the sandbox, Postgres and RabbitMQ.

The one stand-in is ``SandboxTokens``: it plays Intuit's OAuth for the QBO client (tokens from the
sandbox's own token endpoint) where production asks the auth service. Nothing of ours is mocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aio_pika.abc import AbstractQueue
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from services.webhooks import handlers, models
from services.webhooks.app import DEFINITION
from services.webhooks.deps import build_deps
from services.webhooks.settings import WebhooksSettings
from shared.contracts.envelope import Envelope
from shared.db import create_engine
from shared.http import Resources
from shared.qbo.signature import sign
from shared.qbo.tokens import AccessToken
from tests.helpers.broker import broker_channel, delete_namespace, publish
from tests.helpers.running import serving
from tests.helpers.sandbox import connect, create_app, create_company, free_port

pytestmark = pytest.mark.integration

VERIFIER = "verifier-token-for-tests-0001"
ADMIN_KEY = "dev-admin-key"


class SandboxTokens:
    """Intuit's OAuth as the sandbox plays it: the connection's tokens, refreshed when asked."""

    def __init__(self, *, sandbox_url: str, app: dict[str, Any]) -> None:
        self._sandbox_url, self._app = sandbox_url, app
        self._grants: dict[str, tuple[str, dict[str, Any]]] = {}

    def add(self, connection_id: str, *, realm_id: str, tokens: dict[str, Any]) -> None:
        self._grants[connection_id] = (realm_id, tokens)

    async def get(self, connection_id: str, *, force_refresh: bool = False) -> AccessToken:
        realm_id, tokens = self._grants[connection_id]
        if force_refresh:
            tokens = await self._refresh(tokens)
            self._grants[connection_id] = (realm_id, tokens)
        return AccessToken(
            access_token=tokens["access_token"],
            realm_id=realm_id,
            api_base=self._sandbox_url,
            expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=int(tokens["expires_in"])),
        )

    async def _refresh(self, tokens: dict[str, Any]) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self._sandbox_url) as client:
            response = await client.post(
                "/oauth2/v1/tokens/bearer",
                data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                auth=(self._app["client_id"], self._app["client_secret"]),
                headers={"Accept": "application/json"},
            )
            response.raise_for_status()
            refreshed: dict[str, Any] = response.json()
            return refreshed


@dataclass
class Stack:
    """One test's world: a sandbox app and company, the service, its database and broker namespace."""

    sandbox: httpx.AsyncClient
    service: httpx.AsyncClient
    engine: AsyncEngine
    amqp_url: str
    namespace: str
    app: dict[str, Any]
    tokens: SandboxTokens
    port: int
    connection_ids: list[str] = dataclasses.field(default_factory=list)

    async def connect_company(
        self, *, realm_id: str | None = None, import_timeout: float = 60, **company: Any
    ) -> tuple[str, str, str]:
        """A sandbox company (new unless ``realm_id``) connected to the app and announced, its
        reference import waited for: (tenant, connection, realm)."""
        realm_id = realm_id or await create_company(self.sandbox, **company)
        granted = await connect(self.sandbox, app=self.app, realm_id=realm_id, redirect_uri=REDIRECT)
        tenant_id, connection_id = f"tenant-{uuid.uuid4().hex[:8]}", f"conn-{uuid.uuid4().hex[:12]}"
        self.tokens.add(connection_id, realm_id=realm_id, tokens=granted)
        await self.announce(tenant_id=tenant_id, connection_id=connection_id, realm_id=realm_id)
        await self.wait_for_connection(connection_id)
        self.connection_ids.append(connection_id)
        await self.wait_for_imports(connection_id, timeout=import_timeout)
        return tenant_id, connection_id, realm_id

    async def wait_for_imports(self, connection_id: str, timeout: float = 60) -> None:
        """Until the connection's reference imports have ended (they publish Import events)."""
        j = models.import_jobs
        open_jobs = select(func.count()).where(
            j.c.connection_id == connection_id, j.c.status.in_(("pending", "running"))
        )
        any_job = select(func.count()).where(j.c.connection_id == connection_id)

        async def ended() -> bool:
            return bool(await self.scalar(any_job)) and not await self.scalar(open_jobs)

        await wait_until(ended, timeout=timeout)

    async def consumed(self, envelope: Envelope, timeout: float = 30) -> None:
        """Until the service has processed ``envelope`` (its inbox holds it)."""
        i = models.inbox
        stmt = select(func.count()).where(i.c.message_id == envelope.dedup_key)
        await wait_until(lambda: self.scalar(stmt), timeout=timeout)

    async def read_settings_version(self, connection_id: str) -> int | None:
        t = models.read_settings
        version: int | None = await self.scalar(select(t.c.version).where(t.c.connection_id == connection_id))
        return version

    async def retire(self) -> None:
        """This test's connections revoked, so later tests' services leave them alone."""
        t = models.connections
        async with self.engine.begin() as conn:
            await conn.execute(
                update(t).where(t.c.connection_id.in_(self.connection_ids)).values(status="revoked")
            )

    async def announce(self, *, tenant_id: str, connection_id: str, realm_id: str) -> None:
        company = {
            "name": "Test Co",
            "country": "US",
            "home_currency": "USD",
            "edition": "QuickBooks Online Plus",
        }
        data = {
            "connection_id": connection_id,
            "tenant_id": tenant_id,
            "realm_id": realm_id,
            "company": company,
        }
        envelope = Envelope.new("connection.established", data, tenant_id=tenant_id, realm_id=realm_id)
        await self.emit(envelope)
        await self.emit(envelope)  # a duplicate delivery: the inbox absorbs it (one import job)

    async def emit(self, envelope: Envelope) -> None:
        async with broker_channel(self.amqp_url) as (_, channel):
            await publish(channel, self.namespace, envelope)

    async def wait_for_connection(self, connection_id: str, timeout: float = 15) -> None:
        t = models.connections
        await wait_until(
            lambda: self.scalar(select(t.c.status).where(t.c.connection_id == connection_id)),
            timeout=timeout,
        )

    async def act(self, realm_id: str, entity: str, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        """A change made by a person in QBO's screens (fires webhooks)."""
        response = await self.sandbox.post(
            f"/admin/companies/{realm_id}/act/{entity}", json={"operation": operation, "body": body}
        )
        response.raise_for_status()
        found: dict[str, Any] = response.json()[entity]
        return found

    async def post_webhook(self, body: bytes, *, token: str = VERIFIER, **headers: str) -> httpx.Response:
        return await self.service.post(
            "/v1/webhooks/qbo",
            content=body,
            headers={"intuit-signature": sign(body, token), "content-type": "application/json", **headers},
        )

    async def outcome(
        self,
        realm_id: str,
        entity: str,
        qbo_id: str,
        timeout: float = 90,
        *,
        occurred_at: dt.datetime | None = None,
    ) -> str:
        """``status:outcome`` of the newest change row of one object once handled, waited for (bounded).

        ``occurred_at`` picks the change of one notification (its ``lastUpdated``): without it, a
        notification just posted may not be a row yet, and the answer would be an earlier one's.
        """
        c = models.changes
        stmt = select(c.c.status, c.c.outcome).where(
            c.c.realm_id == realm_id, c.c.entity == entity, c.c.qbo_id == qbo_id
        )
        if occurred_at is not None:
            stmt = stmt.where(c.c.occurred_at == occurred_at)

        async def found() -> str | None:
            async with self.engine.connect() as conn:
                row = (await conn.execute(stmt.order_by(c.c.id.desc()))).first()
            return f"{row.status}:{row.outcome}" if row and row.status != "pending" else None

        return str(await wait_until(found, timeout=timeout))

    async def scalar(self, stmt: Any) -> Any:
        async with self.engine.connect() as conn:
            return (await conn.execute(stmt)).scalar_one_or_none()


REDIRECT = "http://localhost:9999/callback"


async def wait_until(probe: Callable[[], Any], *, timeout: float, interval: float = 0.1) -> Any:
    """Poll ``probe`` (a coroutine function) until it returns something truthy; bounded."""
    async with asyncio.timeout(timeout):
        while not (value := await probe()):
            await asyncio.sleep(interval)
    return value


async def events_until(
    queue: AbstractQueue, match: Callable[[Envelope], bool], *, timeout: float
) -> tuple[Envelope, list[Envelope]]:
    """Consume ``queue`` until an envelope matches (bounded); returns it and everything seen."""
    seen: list[Envelope] = []
    async with asyncio.timeout(timeout), queue.iterator() as messages:
        async for message in messages:
            await message.ack()
            envelope = Envelope.model_validate_json(message.body)
            seen.append(envelope)
            if match(envelope):
                return envelope, seen
    raise AssertionError("queue ended")


async def take_until(
    queue: AbstractQueue, match: Callable[[Envelope], bool], *, timeout: float
) -> tuple[Envelope, list[Envelope]]:
    """Take messages off ``queue`` until one matches (bounded); the queue stays usable afterwards.

    ``get`` rather than a consumer: cancelling a consumer deletes an auto-delete queue.
    """
    seen: list[Envelope] = []
    async with asyncio.timeout(timeout):
        while True:
            message = await queue.get(no_ack=True, fail=False)
            if message is None:
                await asyncio.sleep(0.05)
                continue
            seen.append(Envelope.model_validate_json(message.body))
            if match(seen[-1]):
                return seen[-1], seen


async def left_in(queue: AbstractQueue) -> list[Envelope]:
    """What is in ``queue`` now; after ``outbox_drained``, everything the service published."""
    left: list[Envelope] = []
    while (message := await queue.get(no_ack=True, fail=False)) is not None:
        left.append(Envelope.model_validate_json(message.body))
    return left


async def outbox_drained(s: Stack, timeout: float = 30) -> None:
    """Until the relay has published (broker-confirmed, so routed) everything staged so far."""
    rows = select(func.count()).select_from(models.outbox)

    async def empty() -> bool:
        return bool(await s.scalar(rows) == 0)

    await wait_until(empty, timeout=timeout)


def legacy_body(realm_id: str, *entities: dict[str, str]) -> bytes:
    return json.dumps(
        {"eventNotifications": [{"realmId": realm_id, "dataChangeEvent": {"entities": list(entities)}}]}
    ).encode()


@contextlib.asynccontextmanager
async def serving_webhooks(
    database_url: str,
    amqp_url: str,
    namespace: str,
    *,
    port: int,
    tokens: SandboxTokens | None,
    **overrides: Any,
) -> AsyncIterator[httpx.AsyncClient]:
    """The webhooks service in this event loop through the real runtime; yields a client for its HTTP API."""
    values: dict[str, Any] = {"webhook_verifier_token": VERIFIER, "processor_poll_seconds": 0.2, **overrides}
    settings = WebhooksSettings(
        database_url=database_url,
        amqp_url=amqp_url,
        amqp_namespace=namespace,
        http_port=port,
        environment="test",
        **values,
    )

    def make_deps(res: Resources) -> Any:
        return build_deps(res, tokens=tokens)

    definition = dataclasses.replace(DEFINITION, make_deps=make_deps)
    async with (
        serving(definition, settings),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client,
    ):
        yield client


@contextlib.asynccontextmanager
async def stack(
    database_url: str,
    amqp_url: str,
    namespace: str,
    sandbox_url: str,
    *,
    webhook_format: str = "legacy",
    webhook_url: str | None = None,
    service_amqp_url: str | None = None,
    **overrides: Any,
) -> AsyncIterator[Stack]:
    """A sandbox app whose webhooks reach a freshly started webhooks service."""
    port = free_port()
    engine = create_engine(database_url, application_name="qbb-tests", pool_size=2)
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=10) as sandbox:
        app = await create_app(
            sandbox,
            webhook_url=webhook_url or f"http://127.0.0.1:{port}/v1/webhooks/qbo",
            webhook_verifier_token=VERIFIER,
            webhook_format=webhook_format,
            redirect_uris=[REDIRECT],
        )
        tokens = SandboxTokens(sandbox_url=sandbox_url, app=app)
        try:
            async with serving_webhooks(
                database_url, service_amqp_url or amqp_url, namespace, port=port, tokens=tokens, **overrides
            ) as service:
                world = Stack(sandbox, service, engine, amqp_url, namespace, app, tokens, port)
                try:
                    yield world
                finally:
                    await world.retire()
        finally:
            await engine.dispose()
            await delete_namespace(amqp_url, namespace, [handlers.router])


class TcpProxy:
    """A TCP hop in front of RabbitMQ that a test can cut and restore: the broker "goes away"
    for the service only, while the test's own probe keeps its direct connection."""

    def __init__(self, *, target_port: int, port: int) -> None:
        self.target_port, self.port = target_port, port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers.update({writer, up_writer})
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()
