"""What a platform (and a person at a browser) does with qbo-bridge, as plain client code.

Used by ``make demo``, the end-to-end tests and the benchmark: connect a QuickBooks company
through the real OAuth consent page, get a tenant API key, publish events, wait for outcomes.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import httpx
from aio_pika.abc import AbstractChannel, AbstractQueue, AbstractRobustConnection

from shared.contracts.envelope import Envelope
from shared.messaging import topology
from shared.messaging.outbox import to_amqp

_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


@dataclass(frozen=True)
class Endpoints:
    """Where the stack answers, and the operator's keys."""

    sandbox: str
    auth: str
    mapper: str
    exporter: str
    webhooks: str
    admin_key: str = "dev-admin-key"
    namespace: str = ""

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}


@dataclass
class Tenant:
    """A platform tenant connected to one QuickBooks company."""

    tenant_id: str
    realm_id: str
    connection_id: str
    key: str
    connection: dict[str, Any] = field(default_factory=dict)

    @property
    def auth_header(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


async def create_company(http: httpx.AsyncClient, ends: Endpoints, **overrides: Any) -> str:
    """A sandbox company (as a person creates a QBO trial); returns its realm id."""
    body = {
        "company_name": f"Demo {uuid.uuid4().hex[:6]}",
        "country": "US",
        "edition": "plus",
        "multicurrency": False,
        "class_tracking": "off",
        "track_departments": False,
        "custom_txn_numbers": True,
        "seed": "sample",
        **overrides,
    }
    response = await http.post(f"{ends.sandbox}/admin/companies", json=body)
    response.raise_for_status()
    return str(response.json()["realm_id"])


async def consent(
    authorize_url: str, *, realm_id: str, browser: httpx.AsyncClient, action: str = "connect"
) -> str:
    """A person opens the consent link in ``browser`` (which keeps auth's cookie, as a browser
    does: the callback needs it), picks the company, presses Connect; returns the callback URL."""
    page = await browser.get(authorize_url, follow_redirects=True)
    page.raise_for_status()
    form = dict(_HIDDEN.findall(page.text)) | {"realm_id": realm_id, "action": action}
    submitted = await browser.post(page.url.copy_with(query=None), data=form)
    if submitted.status_code != 302:
        raise RuntimeError(f"consent page answered {submitted.status_code}: {submitted.text[:300]}")
    return submitted.headers["location"]


async def connect_tenant(
    http: httpx.AsyncClient, ends: Endpoints, *, tenant_id: str, realm_id: str, **body: Any
) -> Tenant:
    """The whole "Connect to QuickBooks" journey plus a tenant API key."""
    started = await http.post(
        f"{ends.auth}/v1/connections", json={"tenant_id": tenant_id, **body}, headers=ends.admin
    )
    started.raise_for_status()
    async with httpx.AsyncClient(timeout=15) as browser:
        callback = await consent(started.json()["authorize_url"], realm_id=realm_id, browser=browser)
        answered = await browser.get(callback)
    if answered.status_code != 200:
        raise RuntimeError(f"OAuth callback answered {answered.status_code}: {answered.text[:300]}")
    connection_id = started.json()["connection_id"]
    issued = await http.post(f"{ends.auth}/v1/tenants/{tenant_id}/api-keys", headers=ends.admin)
    issued.raise_for_status()
    connection = (await http.get(f"{ends.auth}/v1/connections/{connection_id}", headers=ends.admin)).json()
    return Tenant(tenant_id, realm_id, connection_id, issued.json()["key"], connection)


def event(type_: str, data: dict[str, Any], *, tenant: Tenant, source: str = "demo-platform") -> Envelope:
    """A platform event for ``tenant``."""
    return Envelope.new(type_, data, tenant_id=tenant.tenant_id, source=source)


class Bus:
    """The platform's side of the broker: publish events, listen to what comes back."""

    def __init__(
        self, connection: AbstractRobustConnection, channel: AbstractChannel, namespace: str
    ) -> None:
        self._connection, self._channel, self._namespace = connection, channel, namespace

    @classmethod
    async def open(cls, amqp_url: str, namespace: str = "") -> Bus:
        connection = await aio_pika.connect_robust(amqp_url)
        channel = await connection.channel(publisher_confirms=True)
        return cls(connection, channel, namespace)

    async def close(self) -> None:
        await self._connection.close()

    async def listen(self, *routing_keys: str) -> AbstractQueue:
        """A private queue for the events the platform subscribes to."""
        exchange = await topology.declare_exchange(self._channel, self._namespace)
        # Exclusive, not auto-delete: it outlives one waiting loop and goes with the connection.
        queue = await self._channel.declare_queue(exclusive=True)
        for key in routing_keys:
            await queue.bind(exchange, routing_key=key)
        return queue

    async def publish(self, envelope: Envelope) -> float:
        """Publish with a confirm; returns the monotonic time it was confirmed."""
        exchange = await topology.declare_exchange(self._channel, self._namespace)
        await exchange.publish(to_amqp(envelope), routing_key=envelope.type)
        return time.monotonic()


class PlatformBus:
    """A platform on the broker with its own credentials (architecture §5a): it publishes to
    ingress under its prefix and reads its tenants' outcomes from egress on queues of its own."""

    def __init__(
        self, connection: AbstractRobustConnection, channel: AbstractChannel, amqp: dict[str, str]
    ) -> None:
        self._connection, self._channel, self.amqp = connection, channel, amqp

    @classmethod
    async def open(cls, amqp: dict[str, str]) -> PlatformBus:
        """``amqp`` is the ``amqp`` object ``POST auth:/v1/platforms`` answered."""
        connection = await aio_pika.connect_robust(amqp["url"])
        channel = await connection.channel(publisher_confirms=True)
        return cls(connection, channel, amqp)

    async def close(self) -> None:
        await self._connection.close()

    async def publish(self, envelope: Envelope) -> float:
        """Publish to ingress as ``<platform_id>.<type>`` with a confirm; returns when it was confirmed."""
        exchange = await self._channel.get_exchange(self.amqp["ingress_exchange"], ensure=False)
        await exchange.publish(
            to_amqp(envelope), routing_key=f"{self.amqp['routing_key_prefix']}{envelope.type}"
        )
        return time.monotonic()

    async def listen(self, *event_types: str) -> AbstractQueue:
        """An exclusive queue named under the platform's prefix, bound to egress with
        ``<platform_id>.*.<type>`` for each type (every tenant's), or ``<platform_id>.#`` for all."""
        name = f"{self.amqp['queue_prefix']}{uuid.uuid4().hex[:12]}"
        queue = await self._channel.declare_queue(name, exclusive=True)
        exchange = await self._channel.get_exchange(self.amqp["egress_exchange"], ensure=False)
        prefix = self.amqp["routing_key_prefix"]
        for key in [f"{prefix}*.{t}" for t in event_types] or [f"{prefix}#"]:
            await queue.bind(exchange, routing_key=key)
        return queue


async def register_platform(
    http: httpx.AsyncClient, ends: Endpoints, *, platform_id: str, tenants: list[str]
) -> dict[str, Any]:
    """What the operator does for a new platform (admin key) → its key and broker credentials."""
    answer = await http.post(
        f"{ends.auth}/v1/platforms", json={"platform_id": platform_id, "tenants": tenants}, headers=ends.admin
    )
    answer.raise_for_status()
    registered: dict[str, Any] = answer.json()
    return registered


async def add_tenant(http: httpx.AsyncClient, ends: Endpoints, *, platform_id: str, tenant_id: str) -> None:
    """The operator gives a tenant to a platform (admin key)."""
    answer = await http.post(
        f"{ends.auth}/v1/platforms/{platform_id}/tenants", json={"tenant_id": tenant_id}, headers=ends.admin
    )
    answer.raise_for_status()


async def wait_for(
    queue: AbstractQueue, predicate: Any, *, timeout: float, seen: list[Envelope] | None = None
) -> Envelope | None:
    """The first event on ``queue`` for which ``predicate(envelope)`` holds, or None after ``timeout``."""
    try:
        async with asyncio.timeout(timeout), queue.iterator() as messages:
            async for message in messages:
                await message.ack()
                envelope = Envelope.model_validate_json(message.body)
                if seen is not None:
                    seen.append(envelope)
                if predicate(envelope):
                    return envelope
    except TimeoutError:
        return None
    return None


def outcome_of(source_event_id: str) -> Any:
    """A predicate: the sync outcome (succeeded, failed, rejected) of one platform event."""
    types = {"sync.succeeded", "sync.failed", "sync.rejected"}
    return lambda e: e.type in types and e.data.get("source_event_id") == source_event_id


async def until_reference_imported(http: httpx.AsyncClient, ends: Endpoints, tenant: Tenant) -> None:
    """Wait (≤ 30 s) until the mapper mirrors the company's lists (vendors are imported last)."""
    base = f"{ends.mapper}/v1/connections/{tenant.connection_id}/reference"
    async with asyncio.timeout(30):
        for kind in ("tax-codes", "items", "vendors"):
            while True:
                answer = await http.get(f"{base}/{kind}", headers=tenant.auth_header)
                if answer.status_code == 200 and answer.json().get("items"):
                    break
                await asyncio.sleep(0.2)


DEMO_SETTINGS = {
    "accounts": {
        "income": "Services",
        "expense": "Office Expenses",
        "deposit": "Undeposited Funds",
        "accounts_receivable": "Accounts Receivable (A/R)",
        "accounts_payable": "Accounts Payable (A/P)",
        "refund_from": "Checking",
    },
}


async def apply_settings(
    http: httpx.AsyncClient, ends: Endpoints, tenant: Tenant, changes: dict[str, Any]
) -> int:
    """Merge ``changes`` into the connection's settings and save them; returns the new version."""
    url = f"{ends.mapper}/v1/connections/{tenant.connection_id}/settings"
    current = (await http.get(url, headers=tenant.auth_header)).json()
    merged = current["settings"]
    for key, value in changes.items():
        merged[key] = {**merged.get(key, {}), **value} if isinstance(value, dict) else value
    saved = await http.put(url, json=merged, headers=tenant.auth_header)
    if saved.status_code != 200:
        raise RuntimeError(f"settings refused: {saved.text[:500]}")
    return int(saved.json()["version"])
