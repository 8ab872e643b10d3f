"""The mapper running in-process through the real runtime, and helpers to feed and read it."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aio_pika.abc import AbstractChannel

from services.mapper.app import DEFINITION
from services.mapper.settings import MapperSettings
from shared.apikeys import new_key
from shared.contracts import changed_type
from shared.contracts.envelope import Envelope
from tests.helpers.broker import broker_channel, delete_namespace, publish
from tests.helpers.running import serving
from tests.helpers.sandbox import free_port

pytestmark = pytest.mark.integration
ADMIN = {"Authorization": "Bearer dev-admin-key"}


@dataclass
class Mapper:
    """A running mapper: its HTTP client (admin key by default), the broker channel and namespace."""

    http: httpx.AsyncClient
    channel: AbstractChannel
    namespace: str

    async def publish(self, envelope: Envelope) -> None:
        await publish(self.channel, self.namespace, envelope)

    async def connect_tenant(
        self, *, company: dict[str, Any], realm_id: str | None = None, imported: bool = True
    ) -> tuple[str, str]:
        """A new tenant with an active connection the mapper knows; returns (tenant id, connection id).

        ``imported``: its company's reference import has ended (else its events wait for it).
        """
        tenant, connection_id, realm = unique("tenant"), unique("conn"), realm_id or unique("realm")
        data = {"connection_id": connection_id, "tenant_id": tenant, "realm_id": realm, "company": company}
        await self.publish(Envelope.new("connection.established", data, tenant_id=tenant))
        await until(lambda: self._status(f"/v1/connections/{connection_id}/settings", 200))
        if imported:
            await self.import_ended(connection_id, realm)
        return tenant, connection_id

    async def import_ended(
        self, connection_id: str, realm_id: str, counts: dict[str, int] | None = None
    ) -> None:
        """What the webhooks service publishes when a company's reference import ends."""
        data = {
            "connection_id": connection_id,
            "realm_id": realm_id,
            "status": "done",
            "counts": counts or {},
        }
        await self.publish(Envelope.new("qbo.reference.imported", data, realm_id=realm_id))
        await until(lambda: self._imported(connection_id))

    async def _imported(self, connection_id: str) -> bool:
        answer = await self.http.get(f"/v1/connections/{connection_id}/readiness")
        checks = {c["name"]: c["message"] for c in answer.json().get("checks", [])}
        return "still being imported" not in checks.get("reference_data", "still being imported")

    async def issue_key(self, tenant: str) -> str:
        """A tenant API key, mirrored by the mapper from auth's event."""
        key_id, key, key_hash = new_key()
        data = {"key_id": key_id, "tenant_id": tenant, "key_hash": key_hash}
        await self.publish(Envelope.new("tenant.api_key_issued", data, tenant_id=tenant))
        headers = {"Authorization": f"Bearer {key}"}
        await until(lambda: self._status("/v1/connections/none/settings", 404, headers=headers))
        return key

    async def mirror(self, realm_id: str, entity: str, objects: list[dict[str, Any]]) -> None:
        """What the webhooks service publishes when QBO reference data changes."""
        for obj in objects:
            data = {
                "entity": entity,
                "qbo_id": obj["Id"],
                "operation": "Create",
                "entity_data": obj,
                "realm_id": realm_id,
            }
            await self.publish(Envelope.new(changed_type(entity), data, realm_id=realm_id))

    async def _status(self, path: str, expected: int, headers: dict[str, str] | None = None) -> bool:
        return (await self.http.get(path, headers=headers or ADMIN)).status_code == expected


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 60.0) -> None:
    """Wait (bounded) until ``check`` holds."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def serving_mapper(
    database_url: str, amqp_url: str, namespace: str, **overrides: Any
) -> AsyncIterator[str]:
    """The mapper service in this event loop through the real runtime; yields its base URL."""
    port = free_port()
    settings = MapperSettings(
        database_url=database_url,
        amqp_url=amqp_url,
        amqp_namespace=namespace,
        http_port=port,
        environment="test",
        log_level="WARNING",
        **overrides,
    )
    async with serving(DEFINITION, settings):
        yield f"http://127.0.0.1:{port}"


@contextlib.asynccontextmanager
async def mapper_with(
    database_url: str, amqp_url: str, namespace: str, **overrides: Any
) -> AsyncIterator[Mapper]:
    """A running mapper with settings ``overrides``; its namespace is deleted afterwards."""
    try:
        async with (
            broker_channel(amqp_url) as (_, channel),
            serving_mapper(database_url, amqp_url, namespace, **overrides) as url,
            httpx.AsyncClient(base_url=url, headers=ADMIN, timeout=10) as http,
        ):
            await until(lambda: _answers(http))
            yield Mapper(http, channel, namespace)
    finally:
        await delete_namespace(amqp_url, namespace, [DEFINITION.router])


@pytest.fixture
async def mapper(database_url: str, amqp_url: str, namespace: str) -> AsyncIterator[Mapper]:
    async with mapper_with(database_url, amqp_url, namespace) as running:
        yield running


async def _answers(http: httpx.AsyncClient) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return (await http.get("/healthz")).status_code == 200
    return False
