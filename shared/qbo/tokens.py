"""Access tokens for QBO calls, from auth's internal endpoint (the only place tokens are refreshed)."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import Protocol

import httpx

from shared.errors import RetryableError
from shared.qbo.errors import ConnectionUnusable

# Refresh a little before expiry so a token never dies between fetching it and using it.
EXPIRY_MARGIN = dt.timedelta(seconds=60)


@dataclass(frozen=True)
class AccessToken:
    """A bearer token for one realm, where to call, and when it stops working."""

    access_token: str
    realm_id: str
    api_base: str
    expires_at: dt.datetime

    def __repr__(self) -> str:  # never print the token itself
        return f"AccessToken(realm_id={self.realm_id!r}, expires_at={self.expires_at.isoformat()})"

    def fresh(self, now: dt.datetime) -> bool:
        """True while the token is good for at least ``EXPIRY_MARGIN``."""
        return now + EXPIRY_MARGIN < self.expires_at


class TokenSource(Protocol):
    """Where QBO calls get their access token."""

    async def get(self, connection_id: str, *, force_refresh: bool = False) -> AccessToken:
        """A valid token for the connection; ``force_refresh`` after QBO refused the last one."""
        ...


class AuthServiceTokens:
    """Tokens from ``GET {auth}/internal/v1/connections/{id}/access-token``, cached until close to expiry.

    A 409 (reauthorization required or revoked) or 410 raises ``ConnectionUnusable``; anything
    else unexpected raises ``RetryableError``.
    """

    def __init__(self, *, http: httpx.AsyncClient, auth_url: str, internal_token: str) -> None:
        self._http, self._auth_url, self._internal_token = http, auth_url.rstrip("/"), internal_token
        self._cache: dict[str, AccessToken] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, connection_id: str, *, force_refresh: bool = False) -> AccessToken:
        """A valid token for ``connection_id`` (one fetch at a time per connection in this process)."""
        lock = self._locks.setdefault(connection_id, asyncio.Lock())
        stale = self._cache.get(connection_id) if force_refresh else None
        async with lock:
            cached = self._cache.get(connection_id)
            now = dt.datetime.now(dt.UTC)
            # Another caller may have refreshed while this one waited for the lock.
            if cached is not None and cached.fresh(now) and (not force_refresh or cached != stale):
                return cached
            token = await self._fetch(connection_id, force_refresh=force_refresh)
            self._cache[connection_id] = token
            return token

    def forget(self, connection_id: str) -> None:
        """Drop the cached token (e.g. when the connection changed)."""
        self._cache.pop(connection_id, None)

    async def _fetch(self, connection_id: str, *, force_refresh: bool) -> AccessToken:
        url = f"{self._auth_url}/internal/v1/connections/{connection_id}/access-token"
        try:
            response = await self._http.get(
                url,
                params={"force_refresh": "true"} if force_refresh else None,
                headers={"Authorization": f"Bearer {self._internal_token}"},
            )
        except httpx.HTTPError as exc:
            raise RetryableError(
                f"auth service unreachable: {type(exc).__name__}", code="auth_unreachable"
            ) from exc
        if response.status_code in (409, 410):
            self._cache.pop(connection_id, None)
            status = _status_of(response)
            raise ConnectionUnusable(f"connection {connection_id} is {status}", status=status)
        if response.status_code == 404:
            raise ConnectionUnusable(f"auth does not know connection {connection_id}", status="unknown")
        if response.status_code != 200:
            raise RetryableError(
                f"auth answered {response.status_code} for an access token", code="auth_error"
            )
        body = response.json()
        return AccessToken(
            access_token=body["access_token"],
            realm_id=body["realm_id"],
            api_base=body["api_base"],
            expires_at=_aware(dt.datetime.fromisoformat(body["expires_at"])),
        )


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _status_of(response: httpx.Response) -> str:
    try:
        status = response.json().get("status")
    except ValueError:
        status = None
    if status in ("reauthorization_required", "revoked"):
        return str(status)
    return "revoked" if response.status_code == 410 else "reauthorization_required"
