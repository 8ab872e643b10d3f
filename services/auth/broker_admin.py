"""RabbitMQ users for platforms, made through the management plugin's HTTP API.

The product creates each platform's user at registration, so the broker itself enforces the
boundary (permissions and topic permissions); nothing here decides what a platform may do —
``platforms.broker_grant`` does.
"""

from __future__ import annotations

import secrets
from urllib.parse import quote

import httpx

from services.auth.platforms import BrokerGrant
from services.auth.settings import AuthSettings


class BrokerAdminError(Exception):
    """The management API refused or did not answer; nothing the caller can fix by retrying at once."""


class BrokerAdmin:
    """Creates and deletes confined RabbitMQ users (``QBB_RABBITMQ_MANAGEMENT_*``)."""

    def __init__(self, http: httpx.AsyncClient, settings: AuthSettings) -> None:
        self._http, self._settings = http, settings
        self._vhost = quote(settings.rabbitmq_vhost, safe="")

    async def create_user(self, grant: BrokerGrant) -> str:
        """Create (or reset) ``grant.user`` with a fresh password and its permissions → the password."""
        password = secrets.token_urlsafe(24)
        user = quote(grant.user, safe="")
        await self._put(f"/api/users/{user}", {"password": password, "tags": ""})
        await self._put(
            f"/api/permissions/{self._vhost}/{user}",
            {"configure": grant.configure, "write": grant.write, "read": grant.read},
        )
        for exchange, (write, read) in grant.topic.items():
            await self._put(
                f"/api/topic-permissions/{self._vhost}/{user}",
                {"exchange": exchange, "write": write, "read": read},
            )
        return password

    async def delete_user(self, user: str) -> None:
        """Remove ``user`` (absent is no error); its connections are closed by the broker."""
        await self._call("DELETE", f"/api/users/{quote(user, safe='')}", None, allow={404})

    async def _put(self, path: str, body: dict[str, str]) -> None:
        await self._call("PUT", path, body, allow=set())

    async def _call(self, method: str, path: str, body: dict[str, str] | None, *, allow: set[int]) -> None:
        s = self._settings
        url = f"{s.rabbitmq_management_url.rstrip('/')}{path}"
        auth = (s.rabbitmq_management_user, s.rabbitmq_management_password.get_secret_value())
        try:
            answer = await self._http.request(method, url, json=body, auth=auth, timeout=10)
        except httpx.HTTPError as exc:
            raise BrokerAdminError(f"RabbitMQ management API unreachable: {type(exc).__name__}") from None
        if answer.status_code >= 300 and answer.status_code not in allow:
            raise BrokerAdminError(
                f"RabbitMQ management API answered {answer.status_code} to {method} {path}"
            )
