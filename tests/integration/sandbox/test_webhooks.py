"""Webhooks (reference §11): formats, signature, grouping, retries, attempts recorded."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.webhooks import REPLY_TIMEOUT_SECONDS
from tests.helpers.sandbox import connect, create_company, free_port
from tests.integration.sandbox.conftest import REDIRECT_URI, Realm, make_realm


@dataclass
class Receiver:
    """A tiny webhook endpoint: records every delivery, answers from a script of (status, delay)."""

    url: str = ""
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    script: list[tuple[int, float]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        self.received.append((dict(request.headers), body))
        self.arrived.set()
        status, delay = self.script.pop(0) if self.script else (200, 0.0)
        if delay:
            await asyncio.sleep(delay)
        return Response(status_code=status)

    async def wait_for(self, count: int, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    recv = Receiver()
    port = free_port()
    recv.url = f"http://127.0.0.1:{port}/hook"
    app = Starlette(routes=[Route("/hook", recv.handle, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:
            await asyncio.sleep(0.02)
    yield recv
    server.should_exit = True
    await task


@pytest.fixture
async def fast_webhooks(admin: httpx.AsyncClient) -> AsyncIterator[None]:
    before = (await admin.get("/admin/webhooks/settings")).json()
    limits = (await admin.get("/admin/limits")).json()
    await admin.put("/admin/webhooks/settings", json={"delay_seconds": 0.1, "reply_timeout_seconds": 1.0})
    await admin.put("/admin/limits", json={**limits, "time_scale": 50})
    yield
    await admin.put("/admin/webhooks/settings", json=before)
    await admin.put("/admin/limits", json=limits)


def signature(body: bytes, token: str) -> str:
    return base64.b64encode(hmac.new(token.encode(), body, hashlib.sha256).digest()).decode()


async def hooked_realm(admin: httpx.AsyncClient, receiver: Receiver, fmt: str = "legacy") -> Realm:
    return await make_realm(
        admin,
        app_overrides={
            "webhook_url": receiver.url,
            "webhook_format": fmt,
            "webhook_verifier_token": uuid.uuid4().hex,
        },
    )


async def attempts_for(admin: httpx.AsyncClient, client_id: str) -> list[dict[str, Any]]:
    return [a for a in (await admin.get("/admin/webhooks/deliveries")).json() if a["client_id"] == client_id]


def test_intuits_reply_window_is_three_seconds() -> None:
    assert REPLY_TIMEOUT_SECONDS == 3.0


async def test_legacy_delivery_is_signed_and_grouped_by_realm(
    admin: httpx.AsyncClient, receiver: Receiver, fast_webhooks: None
) -> None:
    realm = await hooked_realm(admin, receiver)
    customer = (await realm.post("/customer", {"DisplayName": "Hooked"})).json()["Customer"]
    await receiver.wait_for(1)
    headers, body = receiver.received[0]
    assert hmac.compare_digest(
        headers["intuit-signature"], signature(body, realm.app["webhook_verifier_token"])
    )
    payload = json.loads(body)
    (notification,) = payload["eventNotifications"]
    assert notification["realmId"] == realm.realm_id
    entity = notification["dataChangeEvent"]["entities"][0]
    assert (entity["name"], entity["id"], entity["operation"]) == ("Customer", customer["Id"], "Create")


async def test_cloudevents_delivery_is_an_array_of_typed_events(
    admin: httpx.AsyncClient, receiver: Receiver, fast_webhooks: None
) -> None:
    realm = await hooked_realm(admin, receiver, fmt="cloudevents")
    customer = (await realm.post("/customer", {"DisplayName": "Cloudy"})).json()["Customer"]
    await receiver.wait_for(1)
    headers, body = receiver.received[0]
    assert headers["intuit-signature"] == signature(body, realm.app["webhook_verifier_token"])
    (event,) = json.loads(body)
    assert event["specversion"] == "1.0"
    assert event["type"] == "qbo.customer.created.v1"
    assert (event["intuitentityid"], event["intuitaccountid"]) == (customer["Id"], realm.realm_id)


async def test_failed_delivery_is_retried_and_every_attempt_recorded(
    admin: httpx.AsyncClient, receiver: Receiver, fast_webhooks: None
) -> None:
    realm = await hooked_realm(admin, receiver, fmt="cloudevents")
    receiver.script = [(500, 0.0), (503, 0.0)]
    await realm.post("/customer", {"DisplayName": "Retry Me"})
    await receiver.wait_for(3)
    bodies = [json.loads(b) for _, b in receiver.received]
    assert bodies[0][0]["id"] == bodies[2][0]["id"]  # a retry reuses the event id
    async with asyncio.timeout(5):
        while len(attempts := await attempts_for(admin, realm.app["client_id"])) < 3:
            await asyncio.sleep(0.05)
    assert [(a["attempt"], a["status"], a["ok"]) for a in attempts] == [
        (1, 500, False),
        (2, 503, False),
        (3, 200, True),
    ]


async def test_slow_reply_counts_as_failure_and_is_retried(
    admin: httpx.AsyncClient, receiver: Receiver, fast_webhooks: None
) -> None:
    realm = await hooked_realm(admin, receiver)
    receiver.script = [(200, 2.0)]
    await realm.post("/customer", {"DisplayName": "Slowpoke"})
    await receiver.wait_for(2)
    async with asyncio.timeout(5):
        while len(attempts := await attempts_for(admin, realm.app["client_id"])) < 2:
            await asyncio.sleep(0.05)
    assert attempts[0]["error"] == "timeout"
    assert attempts[0]["ok"] is False
    assert attempts[1]["ok"] is True


async def test_change_made_in_the_qbo_screens_fires_a_webhook(
    admin: httpx.AsyncClient, receiver: Receiver, fast_webhooks: None
) -> None:
    realm = await hooked_realm(admin, receiver)
    customer = (await realm.post("/customer", {"DisplayName": "Payer"})).json()["Customer"]
    await receiver.wait_for(1)
    reply = await admin.post(
        f"/admin/companies/{realm.realm_id}/act/Payment",
        json={"operation": "create", "body": {"CustomerRef": {"value": customer["Id"]}, "TotalAmt": 10}},
    )
    payment_id = reply.json()["Payment"]["Id"]
    await receiver.wait_for(2)
    entities = json.loads(receiver.received[1][1])["eventNotifications"][0]["dataChangeEvent"]["entities"]
    assert {"name": "Payment", "id": payment_id, "operation": "Create"}.items() <= entities[0].items()


async def test_no_webhooks_after_the_app_is_disconnected(
    admin: httpx.AsyncClient, receiver: Receiver, fast_webhooks: None
) -> None:
    realm = await hooked_realm(admin, receiver)
    await admin.post(
        "/v2/oauth2/tokens/revoke",
        json={"token": realm.tokens["refresh_token"]},
        auth=(realm.app["client_id"], realm.app["client_secret"]),
    )
    await admin.post(
        f"/admin/companies/{realm.realm_id}/act/Customer",
        json={"operation": "create", "body": {"DisplayName": "Unseen"}},
    )
    with pytest.raises(TimeoutError):
        await receiver.wait_for(1, timeout=1.0)


async def test_one_delivery_groups_changes_of_several_realms(
    admin: httpx.AsyncClient, receiver: Receiver, fast_webhooks: None
) -> None:
    first = await hooked_realm(admin, receiver)
    other_realm = await create_company(admin)
    await connect(admin, app=first.app, realm_id=other_realm, redirect_uri=REDIRECT_URI)
    await admin.put("/admin/webhooks/settings", json={"delay_seconds": 2.0})
    for realm_id in (first.realm_id, other_realm):
        await admin.post(
            f"/admin/companies/{realm_id}/act/Customer",
            json={"operation": "create", "body": {"DisplayName": f"G {uuid.uuid4().hex[:6]}"}},
        )
    await receiver.wait_for(1)
    notifications = json.loads(receiver.received[0][1])["eventNotifications"]
    assert {n["realmId"] for n in notifications} == {first.realm_id, other_realm}


async def test_duplicate_delivery_can_be_forced(
    admin: httpx.AsyncClient, receiver: Receiver, fast_webhooks: None
) -> None:
    realm = await hooked_realm(admin, receiver, fmt="cloudevents")
    await admin.put("/admin/webhooks/settings", json={"duplicate_rate": 1.0})
    try:
        await realm.post("/customer", {"DisplayName": "Twice"})
        await receiver.wait_for(2)
    finally:
        await admin.put("/admin/webhooks/settings", json={"duplicate_rate": 0.0})
    assert json.loads(receiver.received[0][1])[0]["id"] == json.loads(receiver.received[1][1])[0]["id"]


async def test_new_entities_notify_create_and_void(
    admin: httpx.AsyncClient, receiver: Receiver, fast_webhooks: None
) -> None:
    realm = await hooked_realm(admin, receiver, fmt="cloudevents")
    body = {"FromAccountRef": {"value": "1"}, "ToAccountRef": {"value": "2"}, "Amount": 5}
    transfer = (await realm.post("/transfer", body)).json()["Transfer"]
    await realm.post(
        "/transfer",
        {"Id": transfer["Id"], "SyncToken": "0", "sparse": True},
        operation="update",
        include="void",
    )
    await receiver.wait_for(1)
    async with asyncio.timeout(10):
        while len({e["type"] for _, raw in receiver.received for e in json.loads(raw)}) < 2:
            receiver.arrived.clear()
            await receiver.arrived.wait()
    types = [e["type"] for _, raw in receiver.received for e in json.loads(raw)]
    assert types == ["qbo.transfer.created.v1", "qbo.transfer.voided.v1"]
