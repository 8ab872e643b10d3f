"""The platform boundary (issue 18), enforced by RabbitMQ and by the services, with two platforms
A and B on the whole stack: real broker users made by registration, real permissions."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aio_pika
import aiormq.exceptions
import httpx
import pytest
from aio_pika import ExchangeType
from aio_pika.abc import AbstractChannel, AbstractQueue
from standardwebhooks import Webhook

from scripts.journey import (
    PlatformBus,
    Tenant,
    connect_tenant,
    create_company,
    event,
    until_reference_imported,
    wait_for,
)
from shared.apikeys import new_key
from shared.contracts.envelope import Envelope
from shared.messaging import topology
from shared.messaging.outbox import to_amqp
from tests.e2e.conftest import Stack
from tests.e2e.test_journeys import OUTCOMES, entities, invoice, uid
from tests.helpers.broker import collect
from tests.helpers.platforms import Platform, Registry, registry
from tests.helpers.receiver import Received, Receiver, receiving

pytestmark = pytest.mark.e2e


@pytest.fixture
async def platforms(stack: Stack) -> AsyncIterator[Registry]:
    async with (
        httpx.AsyncClient(timeout=20) as http,
        registry(http, stack.ends.auth, stack.ends.namespace) as made,
    ):
        yield made


@contextlib.asynccontextmanager
async def platform_bus(platform: Platform) -> AsyncIterator[PlatformBus]:
    bus = await PlatformBus.open(platform.amqp)
    try:
        yield bus
    finally:
        await bus.close()


async def connected_tenant(http: httpx.AsyncClient, stack: Stack, tenant_id: str) -> Tenant:
    realm = await create_company(http, stack.ends, country="US")
    tenant = await connect_tenant(http, stack.ends, tenant_id=tenant_id, realm_id=realm)
    await until_reference_imported(http, stack.ends, tenant)
    return tenant


async def egress_probe(channel: AbstractChannel, namespace: str) -> AbstractQueue:
    """What a service user sees on egress: every message, with its routing key."""
    egress = await topology.declare_named_exchange(channel, topology.EGRESS, namespace)
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(egress, routing_key="#")
    return queue


Action = Callable[[AbstractChannel, Platform, Platform, str], Awaitable[Any]]


async def _publish_events(ch: AbstractChannel, a: Platform, b: Platform, ns: str) -> None:
    exchange = await ch.get_exchange(f"{ns}{topology.EXCHANGE}", ensure=False)
    await exchange.publish(aio_pika.Message(b"{}"), routing_key="invoice.approved")


async def _publish_as_a(ch: AbstractChannel, a: Platform, b: Platform, ns: str) -> None:
    exchange = await ch.get_exchange(b.amqp["ingress_exchange"], ensure=False)
    await exchange.publish(aio_pika.Message(b"{}"), routing_key=f"{a.prefix}invoice.approved")


def _bind_egress(key: Callable[[Platform], str]) -> Action:
    async def act(ch: AbstractChannel, a: Platform, b: Platform, ns: str) -> None:
        queue = await ch.declare_queue(f"{b.amqp['queue_prefix']}{uuid.uuid4().hex[:8]}", exclusive=True)
        await queue.bind(b.amqp["egress_exchange"], routing_key=key(a))

    return act


async def _declare_unprefixed(ch: AbstractChannel, a: Platform, b: Platform, ns: str) -> None:
    await ch.declare_queue(f"{ns}steal-{uuid.uuid4().hex[:8]}", exclusive=True)


async def _declare_exchange(ch: AbstractChannel, a: Platform, b: Platform, ns: str) -> None:
    await ch.declare_exchange(b.amqp["egress_exchange"], ExchangeType.TOPIC, durable=True)


@pytest.mark.parametrize(
    "action",
    [
        "publish to qbo-bridge.events",
        "publish with A's prefix",
        "bind egress with A's prefix",
        "bind egress with #",
        "declare a queue without its prefix",
        "declare the egress exchange",
    ],
)
async def test_the_broker_refuses_b_outside_its_prefix(
    stack: Stack, platforms: Registry, action: str
) -> None:
    a, b = await platforms.register(), await platforms.register()
    actions: dict[str, Action] = {
        "publish to qbo-bridge.events": _publish_events,
        "publish with A's prefix": _publish_as_a,
        "bind egress with A's prefix": _bind_egress(lambda a: f"{a.prefix}#"),
        "bind egress with #": _bind_egress(lambda a: "#"),
        "declare a queue without its prefix": _declare_unprefixed,
        "declare the egress exchange": _declare_exchange,
    }
    connection = await aio_pika.connect(b.amqp["url"])  # not robust: a closed channel stays closed
    try:
        channel = await connection.channel(publisher_confirms=True)
        with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
            await actions[action](channel, a, b, stack.ends.namespace)
    finally:
        await connection.close()


async def test_b_may_publish_and_bind_under_its_own_prefix(stack: Stack, platforms: Registry) -> None:
    b = await platforms.register()
    async with platform_bus(b) as bus:
        queue = await bus.listen()
        await bus.publish(Envelope.new("customer.upserted", {}, tenant_id=b.tenants[0], source="b"))

    assert queue.name.startswith(b.amqp["queue_prefix"])


async def test_b_naming_a_tenant_of_a_changes_nothing_and_only_b_hears_the_rejection(
    stack: Stack, platforms: Registry, amqp_url: str
) -> None:
    a, b = await platforms.register(), await platforms.register()
    async with (
        httpx.AsyncClient(timeout=20) as http,
        platform_bus(a) as bus_a,
        platform_bus(b) as bus_b,
        await aio_pika.connect_robust(amqp_url) as service_user,
    ):
        victim = await connected_tenant(http, stack, a.tenants[0])
        probe = await egress_probe(await service_user.channel(), stack.ends.namespace)
        heard_by_a, heard_by_b = await bus_a.listen(), await bus_b.listen()
        number = uid("INV")[:21]
        forged = event(
            "invoice.approved",
            invoice("US", invoice_id=uid("inv"), number=number, code=uid("C")),
            tenant=victim,
        )
        await bus_b.publish(forged)
        rejected = await wait_for(
            heard_by_b, lambda e: e.data.get("source_event_id") == forged.id, timeout=30
        )
        seen = await collect(probe, count=1000, timeout=3)
        for_a = await collect(heard_by_a, count=1000, timeout=1)
        invoices = [
            i for i in await entities(http, stack, victim.realm_id, "Invoice") if i.get("DocNumber") == number
        ]
        # The refusal did not use up the id: A's own event with the same id still lands.
        await bus_a.publish(forged)
        real = await wait_for(
            heard_by_a,
            lambda e: e.data.get("source_event_id") == forged.id and e.data.get("object_type") == "invoice",
            timeout=60,
        )

    assert rejected is not None
    assert rejected.type == "sync.rejected"
    assert rejected.data["code"] == "tenant_not_owned"
    assert real is not None
    assert real.type == "sync.succeeded", real.data
    about_forged = [
        m.routing_key
        for m in seen
        if Envelope.model_validate_json(m.body).data.get("source_event_id") == forged.id
    ]
    assert about_forged == [f"{b.prefix}{victim.tenant_id}.sync.rejected"]
    assert all(Envelope.model_validate_json(m.body).data.get("source_event_id") != forged.id for m in for_a)
    assert invoices == []


async def test_b_cannot_pass_for_the_bridge_by_forging_the_kept_routing_key_header(
    stack: Stack, platforms: Registry
) -> None:
    a, b = await platforms.register(), await platforms.register()
    async with (
        httpx.AsyncClient(timeout=20) as http,
        platform_bus(b) as bus_b,
        await aio_pika.connect_robust(b.amqp["url"]) as b_user,
    ):
        victim = await connected_tenant(http, stack, a.tenants[0])
        heard_by_b = await bus_b.listen()
        code = uid("Forged")
        forged = event("customer.upserted", {"customer_id": f"cus_{code}", "code": code}, tenant=victim)
        channel = await b_user.channel(publisher_confirms=True)
        ingress = await channel.get_exchange(b.amqp["ingress_exchange"], ensure=False)
        # The header the bridge keeps a retried message's first routing key in, set by B itself:
        # were it believed, the event would pass for the bridge's own traffic (no prefix, no owner check).
        message = to_amqp(forged, headers={topology.ROUTING_KEY_HEADER: "customer.upserted"})
        await ingress.publish(message, routing_key=f"{b.prefix}customer.upserted")
        rejected = await wait_for(
            heard_by_b, lambda e: e.data.get("source_event_id") == forged.id, timeout=30
        )
        written = await entities(http, stack, victim.realm_id, "Customer")
        customers = [c for c in written if c.get("DisplayName") == code]

    assert rejected is not None
    assert (rejected.type, rejected.data["code"]) == ("sync.rejected", "tenant_not_owned")
    assert customers == []


async def test_an_invalid_event_from_b_naming_a_tenant_of_a_is_refused_to_b_alone(
    stack: Stack, platforms: Registry, amqp_url: str
) -> None:
    a, b = await platforms.register(), await platforms.register()
    async with (
        httpx.AsyncClient(timeout=20) as http,
        platform_bus(a) as bus_a,
        platform_bus(b) as bus_b,
        await aio_pika.connect_robust(amqp_url) as service_user,
    ):
        victim = await connected_tenant(http, stack, a.tenants[0])
        probe = await egress_probe(await service_user.channel(), stack.ends.namespace)
        heard_by_a = await bus_a.listen()
        bad = invoice("US", invoice_id=uid("inv"), number=uid("INV")[:21], code=uid("C"))
        bad["issue_date"] = "2026-13-40"  # breaks the contract: refused before any ownership check
        forged = event("invoice.approved", bad, tenant=victim)
        await bus_b.publish(forged)
        seen = await collect(probe, count=1000, timeout=15)
        for_a = await collect(heard_by_a, count=1000, timeout=1)

    about_forged = [
        (m.routing_key, Envelope.model_validate_json(m.body).data.get("code"))
        for m in seen
        if Envelope.model_validate_json(m.body).data.get("source_event_id") == forged.id
    ]
    assert about_forged == [(f"{b.prefix}{victim.tenant_id}.sync.rejected", "invalid_event")]
    assert all(Envelope.model_validate_json(m.body).data.get("source_event_id") != forged.id for m in for_a)


async def test_a_invoice_lands_and_only_a_hears_that_it_succeeded_over_amqp_and_webhooks(
    stack: Stack, platforms: Registry, amqp_url: str
) -> None:
    a, b = await platforms.register(), await platforms.register()
    async with (
        httpx.AsyncClient(timeout=20) as http,
        platform_bus(a) as bus_a,
        await aio_pika.connect_robust(amqp_url) as service_user,
        receiving() as receiver,
    ):
        hooks = {
            p.platform_id: await _endpoint(http, stack, p, f"{receiver.url}/{p.platform_id}") for p in (a, b)
        }
        tenant = await connected_tenant(http, stack, a.tenants[0])
        probe = await egress_probe(await service_user.channel(), stack.ends.namespace)
        outcomes = await bus_a.listen(*OUTCOMES)
        number = uid("INV")[:21]
        sent = event(
            "invoice.approved",
            invoice("US", invoice_id=uid("inv"), number=number, code=uid("C")),
            tenant=tenant,
        )
        await bus_a.publish(sent)
        done = await wait_for(
            outcomes,
            lambda e: e.data.get("source_event_id") == sent.id and e.data.get("object_type") == "invoice",
            timeout=60,
        )
        seen = await collect(probe, count=1000, timeout=3)
        posted = await _posted(receiver, f"/{a.platform_id}", sent.id, timeout=20)
        invoices = [
            i for i in await entities(http, stack, tenant.realm_id, "Invoice") if i.get("DocNumber") == number
        ]
        to_b = receiver.at(f"/{b.platform_id}")

    assert done is not None
    assert done.type == "sync.succeeded", done.data
    keys = {
        m.routing_key
        for m in seen
        if (e := Envelope.model_validate_json(m.body)).data.get("source_event_id") == sent.id
        and e.data.get("object_type") == "invoice"
    }
    assert keys == {f"{a.prefix}{tenant.tenant_id}.sync.succeeded"}
    assert not any(str(m.routing_key).startswith(b.prefix) for m in seen)
    assert len(invoices) == 1
    assert posted is not None
    assert Webhook(hooks[a.platform_id]).verify(posted.body, posted.headers)["id"] == done.id
    assert to_b == []


async def _endpoint(http: httpx.AsyncClient, stack: Stack, platform: Platform, url: str) -> str:
    answer = await http.post(
        f"{stack.ends.auth}/v1/platforms/{platform.platform_id}/webhook-endpoints",
        json={"url": url, "event_types": ["sync.*"]},
        headers=platform.auth_header,
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["secret"])


async def _posted(receiver: Receiver, path: str, source_event_id: str, *, timeout: float) -> Received | None:
    """The webhook delivery to ``path`` of the invoice outcome of ``source_event_id``."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            while True:
                for r in receiver.at(path):
                    data = json.loads(r.body)
                    if (
                        data["data"].get("source_event_id") == source_event_id
                        and data["data"].get("object_type") == "invoice"
                    ):
                        return r
                await asyncio.sleep(0.1)
    return None


async def test_a_platform_key_acts_on_every_service_for_its_tenants_only(
    stack: Stack, platforms: Registry
) -> None:
    a, b = await platforms.register(), await platforms.register()
    async with httpx.AsyncClient(timeout=20) as http:
        mine = await connected_tenant(http, stack, a.tenants[0])
        theirs = await connected_tenant(http, stack, b.tenants[0])
        routes = {
            "auth": ("GET", f"{stack.ends.auth}/v1/connections/{{}}"),
            "mapper": ("GET", f"{stack.ends.mapper}/v1/connections/{{}}/settings"),
            "mapper readiness": ("GET", f"{stack.ends.mapper}/v1/connections/{{}}/readiness"),
            "exporter": ("GET", f"{stack.ends.exporter}/v1/connections/{{}}/jobs"),
            "exporter sync-now": ("POST", f"{stack.ends.exporter}/v1/connections/{{}}/sync-now"),
            "webhooks catch-up": ("POST", f"{stack.ends.webhooks}/v1/connections/{{}}/catch-up"),
        }
        own = {
            name: await _until_answered(http, method, url.format(mine.connection_id), a)
            for name, (method, url) in routes.items()
        }
        other = {
            name: (
                await http.request(method, url.format(theirs.connection_id), headers=a.auth_header)
            ).status_code
            for name, (method, url) in routes.items()
        }

    assert all(200 <= status < 300 for status in own.values()), own
    assert other == dict.fromkeys(routes, 404)


async def _until_answered(http: httpx.AsyncClient, method: str, url: str, platform: Platform) -> int:
    """The status once the service's mirror has the platform's key (it arrives as an event)."""
    for _ in range(150):
        answer = await http.request(method, url, headers=platform.auth_header)
        if answer.status_code != 401:
            return answer.status_code
        await asyncio.sleep(0.2)
    return 401


async def test_a_forged_api_key_event_from_a_platform_authenticates_nothing(
    stack: Stack, platforms: Registry
) -> None:
    b = await platforms.register()
    key_id, key, key_hash = new_key()
    forged = Envelope.new(
        "tenant.api_key_issued",
        {"key_id": key_id, "tenant_id": b.tenants[0], "key_hash": key_hash},
        source="b",
    )
    async with httpx.AsyncClient(timeout=20) as http, platform_bus(b) as bus:
        await bus.publish(forged)  # as b.tenant.api_key_issued: the only key b's user may use
        # A barrier: the tenant's connection, made afterwards, reaches every service's mirror...
        tenant = await connected_tenant(http, stack, b.tenants[0])
        urls = [
            f"{stack.ends.mapper}/v1/connections/{tenant.connection_id}/settings",
            f"{stack.ends.exporter}/v1/connections/{tenant.connection_id}/jobs",
        ]
        barrier = [await _until_answered(http, "GET", url, b) for url in urls]
        # ...so the forged key, published before it, had every chance to be mirrored too.
        answers = [
            (await http.get(url, headers={"Authorization": f"Bearer {key}"})).status_code for url in urls
        ]
        catch_up = f"{stack.ends.webhooks}/v1/connections/{tenant.connection_id}/catch-up"
        answers.append((await http.post(catch_up, headers={"Authorization": f"Bearer {key}"})).status_code)
        at_auth = await http.get(
            f"{stack.ends.auth}/v1/connections", headers={"Authorization": f"Bearer {key}"}
        )

    assert barrier == [200, 200]
    assert answers == [401, 401, 401]
    assert at_auth.status_code == 401
