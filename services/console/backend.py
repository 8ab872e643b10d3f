"""The services' public HTTP APIs, called with the signed-in person's own key."""

from __future__ import annotations

from typing import Any, Literal

import httpx

from services.console.settings import ConsoleSettings

Service = Literal["auth", "mapper", "exporter", "webhooks"]


class Unavailable(Exception):
    """A service did not answer (down, or too slow)."""

    def __init__(self, service: Service) -> None:
        super().__init__(f"the {service} service did not answer")
        self.service = service


class KeyRefused(Exception):
    """A service no longer (or not yet) takes the session's key: revoked, or not mirrored there yet."""

    def __init__(self, service: Service) -> None:
        super().__init__(f"the {service} service does not accept this key")
        self.service = service


class Backend:
    """One HTTP client for every service; every call carries the caller's key."""

    def __init__(self, settings: ConsoleSettings, http: httpx.AsyncClient | None = None) -> None:
        self._urls: dict[Service, str] = {
            "auth": settings.auth_url.rstrip("/"),
            "mapper": settings.mapper_url.rstrip("/"),
            "exporter": settings.exporter_url.rstrip("/"),
            "webhooks": settings.webhooks_url.rstrip("/"),
        }
        self._http = http or httpx.AsyncClient(timeout=settings.backend_timeout_seconds)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def call(
        self,
        service: Service,
        method: str,
        path: str,
        *,
        key: str,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """``method path`` on ``service`` as the key's owner; raises ``Unavailable`` if it does not answer."""
        sent = {"Authorization": f"Bearer {key}", **(headers or {})}
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        try:
            return await self._http.request(
                method, f"{self._urls[service]}{path}", params=clean, json=json, headers=sent
            )
        except httpx.TransportError:
            raise Unavailable(service) from None

    async def json(self, service: Service, path: str, *, key: str, **params: Any) -> Any:
        """GET → the JSON body, or None when the service answers 404 (unknown, or not the caller's)."""
        answer = await self.call(service, "GET", path, key=key, params=params)
        if answer.status_code == 404:
            return None
        if answer.status_code == 401:
            raise KeyRefused(service)
        answer.raise_for_status()
        return answer.json()

    async def is_admin(self, key: str) -> bool:
        """The operator's key is the only one an admin-only route takes (a read, changes nothing)."""
        answer = await self.call("webhooks", "GET", "/v1/webhooks/unknown-realms", key=key)
        return answer.status_code == 200

    async def connections(self, key: str) -> list[dict[str, Any]] | None:
        """The key's connections, or None when the key is unknown or revoked."""
        answer = await self.call("auth", "GET", "/v1/connections", key=key)
        if answer.status_code in (401, 403):
            return None
        answer.raise_for_status()
        found: list[dict[str, Any]] = answer.json()["connections"]
        return found
