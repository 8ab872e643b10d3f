"""Outbound webhooks: per app, grouped by realm, signed, retried on Intuit's schedule."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from sandbox.clock import iso_ms
from sandbox.state import App

DEFAULT_DELAY_SECONDS = 1.0
REPLY_TIMEOUT_SECONDS = 3.0
# Intuit's retry schedule since Oct 2025 (seconds after the failed attempt), then every 6 h.
RETRY_SCHEDULE = (0, 10, 20, 30, 300, 1200, 7200, 14400, 21600)
RETRY_EVERY_AFTER = 21600
# [U] Intuit retries for days; the emulator gives up after this many attempts of one delivery.
MAX_ATTEMPTS = 20
CLOUDEVENTS_PER_DELIVERY = 100
CLOUDEVENT_SOURCE = "intuit.sandbox"
PAST_TENSE = {
    "Create": "created",
    "Update": "updated",
    "Delete": "deleted",
    "Merge": "merged",
    "Void": "voided",
    "Emailed": "emailed",
}
DELIVERIES_MAX = 10_000


@dataclass(frozen=True)
class Event:
    realm_id: str
    entity: str
    entity_id: str
    operation: str
    at: float
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))


def legacy_body(events: list[Event]) -> bytes:
    by_realm: dict[str, list[dict[str, str]]] = {}
    for e in events:
        by_realm.setdefault(e.realm_id, []).append(
            {"name": e.entity, "id": e.entity_id, "operation": e.operation, "lastUpdated": iso_ms(e.at)}
        )
    notifications = [
        {"realmId": realm, "dataChangeEvent": {"entities": entities}} for realm, entities in by_realm.items()
    ]
    return json.dumps({"eventNotifications": notifications}).encode()


def cloudevents_body(events: list[Event]) -> bytes:
    return json.dumps(
        [
            {
                "specversion": "1.0",
                "id": e.event_id,
                "source": CLOUDEVENT_SOURCE,
                "type": f"qbo.{e.entity.lower()}.{PAST_TENSE.get(e.operation, e.operation.lower())}.v1",
                "datacontenttype": "application/json",
                "time": iso_ms(e.at),
                "intuitentityid": e.entity_id,
                "intuitaccountid": e.realm_id,
                "data": {},
            }
            for e in events
        ]
    ).encode()


def sign(body: bytes, verifier_token: str) -> str:
    return base64.b64encode(hmac.new(verifier_token.encode(), body, hashlib.sha256).digest()).decode()


def retry_delay(failed_attempts: int) -> float:
    index = failed_attempts - 1
    return float(RETRY_SCHEDULE[index] if index < len(RETRY_SCHEDULE) else RETRY_EVERY_AFTER)


@dataclass
class WebhookSettings:
    delay_seconds: float = DEFAULT_DELAY_SECONDS
    reply_timeout_seconds: float = REPLY_TIMEOUT_SECONDS
    # Intuit may deliver late, twice or out of order; receivers must cope, so tests can force it.
    duplicate_rate: float = 0.0
    shuffle: bool = False


@dataclass
class Dispatcher:
    apps: Callable[[], dict[str, App]]
    time_scale: Callable[[], float]
    settings: WebhookSettings = field(default_factory=WebhookSettings)
    pending: dict[str, list[Event]] = field(default_factory=dict)
    wakeups: dict[str, asyncio.Event] = field(default_factory=dict)
    workers: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    client: httpx.AsyncClient | None = None

    def notify(self, client_ids: list[str], events: list[Event]) -> None:
        for client_id in client_ids:
            self.pending.setdefault(client_id, []).extend(events)
            self.wakeups.setdefault(client_id, asyncio.Event()).set()
            if client_id not in self.workers or self.workers[client_id].done():
                self.workers[client_id] = asyncio.create_task(self._worker(client_id))

    async def close(self) -> None:
        for task in self.workers.values():
            task.cancel()
        for task in self.workers.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.workers.clear()
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    def reset(self) -> None:
        for task in self.workers.values():
            task.cancel()
        self.workers.clear()
        self.pending.clear()
        self.wakeups.clear()
        self.attempts.clear()

    async def _worker(self, client_id: str) -> None:
        wake = self.wakeups[client_id]
        while True:
            await wake.wait()
            wake.clear()
            await asyncio.sleep(self.settings.delay_seconds)
            while self.pending.get(client_id):
                app = self.apps().get(client_id)
                queue = self.pending[client_id]
                limit = (
                    CLOUDEVENTS_PER_DELIVERY if app and app.webhook_format == "cloudevents" else len(queue)
                )
                batch, self.pending[client_id] = queue[:limit], queue[limit:]
                if self.settings.shuffle:
                    random.shuffle(batch)
                if app is not None and app.webhook_url:
                    await self._deliver(app, batch)
                    if self.settings.duplicate_rate and random.random() < self.settings.duplicate_rate:
                        await self._deliver(app, batch)

    async def _deliver(self, app: App, events: list[Event]) -> None:
        """One delivery with retries; later events for this app wait (Intuit's ordered queue)."""
        delivery_id = str(uuid.uuid4())
        body = cloudevents_body(events) if app.webhook_format == "cloudevents" else legacy_body(events)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if await self._attempt(app, body, events, delivery_id=delivery_id, attempt=attempt):
                return
            await asyncio.sleep(retry_delay(attempt) / self.time_scale())

    async def _attempt(
        self, app: App, body: bytes, events: list[Event], *, delivery_id: str, attempt: int
    ) -> bool:
        if self.client is None:
            self.client = httpx.AsyncClient()
        headers = {
            "content-type": "application/json; charset=utf-8",
            "intuit-signature": sign(body, app.webhook_verifier_token),
            "intuit-created-time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S%z"),
            "intuit-t-id": str(uuid.uuid4()),
            "intuit-notification-schema-version": "0.1",
            "user-agent": "intuit_notification_server/0.1",
        }
        started = time.time()
        status: int | None = None
        error: str | None = None
        try:
            reply = await self.client.post(
                str(app.webhook_url),
                content=body,
                headers=headers,
                timeout=self.settings.reply_timeout_seconds,
            )
            status = reply.status_code
        except httpx.TimeoutException:
            error = "timeout"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        ok = status == 200
        self._record(
            app,
            body,
            headers,
            events,
            delivery_id=delivery_id,
            attempt=attempt,
            started=started,
            status=status,
            error=error,
            ok=ok,
        )
        return ok

    def _record(
        self,
        app: App,
        body: bytes,
        headers: dict[str, str],
        events: list[Event],
        *,
        delivery_id: str,
        attempt: int,
        started: float,
        status: int | None,
        error: str | None,
        ok: bool,
    ) -> None:
        if len(self.attempts) >= DELIVERIES_MAX:
            del self.attempts[: DELIVERIES_MAX // 10]
        self.attempts.append(
            {
                "delivery_id": delivery_id,
                "attempt": attempt,
                "client_id": app.client_id,
                "url": app.webhook_url,
                "format": app.webhook_format,
                "time": iso_ms(started),
                "duration_ms": round((time.time() - started) * 1000),
                "status": status,
                "error": error,
                "ok": ok,
                "event_count": len(events),
                "realm_ids": sorted({e.realm_id for e in events}),
                "body": body.decode(),
                "signature": headers["intuit-signature"],
            }
        )
