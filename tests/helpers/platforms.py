"""Platforms in tests: register them through auth, and delete the RabbitMQ users that made."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

MANAGEMENT_URL = "http://127.0.0.1:15672"
MANAGEMENT_AUTH = ("guest", "guest")
ADMIN = {"Authorization": "Bearer dev-admin-key"}


@dataclass
class Platform:
    """What registration handed out (secrets included, as the operator sees them once)."""

    platform_id: str
    tenants: list[str]
    api_key: str
    amqp: dict[str, str]
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def auth_header(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    @property
    def prefix(self) -> str:
        return self.amqp["routing_key_prefix"]


def platform_id(label: str = "p") -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}"


def tenant_id(label: str = "tenant") -> str:
    return f"{label}_{uuid.uuid4().hex[:10]}"


async def delete_broker_users(*users: str) -> None:
    """Remove RabbitMQ users (absent ones are no error)."""
    async with httpx.AsyncClient(base_url=MANAGEMENT_URL, auth=MANAGEMENT_AUTH, timeout=10) as http:
        for user in users:
            answer = await http.delete(f"/api/users/{quote(user, safe='')}")
            assert answer.status_code in (204, 404), answer.text


class Registry:
    """Registers platforms at one auth service and forgets their broker users at the end."""

    def __init__(self, http: httpx.AsyncClient, auth_url: str, namespace: str) -> None:
        self._http, self._auth_url, self._namespace = http, auth_url, namespace
        self.users: list[str] = []

    async def register(self, *, tenants: int = 1, label: str = "p") -> Platform:
        pid, owned = platform_id(label), [tenant_id() for _ in range(tenants)]
        answer = await self._http.post(
            f"{self._auth_url}/v1/platforms", json={"platform_id": pid, "tenants": owned}, headers=ADMIN
        )
        assert answer.status_code == 201, answer.text
        self.users.append(f"{self._namespace}{pid}")
        body = answer.json()
        return Platform(pid, owned, body["api_key"], body["amqp"])


@contextlib.asynccontextmanager
async def registry(http: httpx.AsyncClient, auth_url: str, namespace: str) -> AsyncIterator[Registry]:
    made = Registry(http, auth_url, namespace)
    try:
        yield made
    finally:
        await delete_broker_users(*made.users)
