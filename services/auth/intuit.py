"""Talking to Intuit: the discovery document, the token and revoke endpoints, company reads.

HTTP failures become our error types here and nowhere else. No token or code ever goes into an
exception message or a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import httpx

from services.auth.settings import AuthSettings
from shared.errors import PermanentError, RetryableError
from shared.qbo.limits import RealmLimiter

log = logging.getLogger(__name__)

HARD_EXPIRY_HEADER = "x-include-refresh-token-hard-expires-in"
# A company has few currencies (QBO lists about 160 in all); one page of the default size holds them.
CURRENCY_QUERY = "select * from CompanyCurrency maxresults 1000"


class IntuitUnavailable(RetryableError):
    """Intuit did not answer usefully (network, timeout, 5xx, 429): try again later."""


class IntuitRefused(PermanentError):
    """Intuit refused the request for a reason retrying cannot fix (bad client credentials, ...)."""


class InvalidGrant(PermanentError):
    """The code or refresh token is dead: expired, used, revoked or rotated away."""


class AccessTokenRejected(PermanentError):
    """QBO answered 401/403 to an access token."""


@dataclass(frozen=True, slots=True)
class Discovery:
    authorization_endpoint: str
    token_endpoint: str
    revocation_endpoint: str


class IntuitClient:
    """Intuit's OAuth endpoints (found through the discovery document) and the QBO reads auth needs."""

    def __init__(
        self, *, http: httpx.AsyncClient, settings: AuthSettings, limiter: RealmLimiter | None = None
    ) -> None:
        self._http, self._settings, self._limiter = http, settings, limiter
        self._discovery: Discovery | None = None
        self._lock = asyncio.Lock()

    async def discovery(self) -> Discovery:
        """The discovery document, fetched once per process."""
        async with self._lock:
            if self._discovery is None:
                body = await self._json("GET", self._settings.intuit_discovery_url, what="discovery")
                try:
                    self._discovery = Discovery(
                        authorization_endpoint=body["authorization_endpoint"],
                        token_endpoint=body["token_endpoint"],
                        revocation_endpoint=body["revocation_endpoint"],
                    )
                except KeyError as missing:
                    raise IntuitUnavailable(f"discovery document lacks {missing}") from None
            return self._discovery

    async def exchange_code(self, code: str) -> dict[str, Any]:
        """Tokens for an authorization code (exchanged exactly once)."""
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": self._settings.redirect_uri}
        return await self._token_request(data)

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        """New tokens for a refresh token."""
        return await self._token_request({"grant_type": "refresh_token", "refresh_token": refresh_token})

    async def revoke(self, token: str) -> None:
        """Revoke the grant behind ``token`` (the connection disappears from the QBO company)."""
        endpoint = (await self.discovery()).revocation_endpoint
        response = await self._send(
            "POST", endpoint, json={"token": token}, auth=self._client_auth(), what="revoke"
        )
        if response.status_code == 200:
            return
        if response.status_code == 401:
            raise IntuitRefused(
                "Intuit refused the client credentials (invalid_client)", code="invalid_client"
            )
        # Any other 4xx means the token is already unknown to Intuit: the grant is gone either way.
        log.info("revoke answered %s; treating the grant as already gone", response.status_code)

    async def read_company(
        self, *, realm_id: str, access_token: str
    ) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]] | None]:
        """CompanyInfo, Preferences and, with multicurrency on, the currency list of the realm."""
        base = f"{self._settings.qbo_api_base.rstrip('/')}/v3/company/{realm_id}"
        # Inside the realm's shared limits: these reads count against the same 10/s as the
        # webhooks service's import that a new connection sets off.
        async with self._slot(realm_id):
            info = await self._qbo_get(f"{base}/companyinfo/{realm_id}", access_token, entity="CompanyInfo")
        async with self._slot(realm_id):
            prefs = await self._qbo_get(f"{base}/preferences", access_token, entity="Preferences")
        if not (prefs.get("CurrencyPrefs") or {}).get("MultiCurrencyEnabled"):
            return info, prefs, None
        async with self._slot(realm_id):
            found = await self._qbo_get(
                f"{base}/query", access_token, entity="QueryResponse", query=CURRENCY_QUERY
            )
        rows = found.get("CompanyCurrency") or []
        return info, prefs, [row for row in rows if isinstance(row, dict)]

    def _slot(self, realm_id: str) -> AbstractAsyncContextManager[None]:
        return self._limiter.slot(realm_id) if self._limiter is not None else contextlib.nullcontext()

    def _client_auth(self) -> httpx.BasicAuth:
        return httpx.BasicAuth(
            self._settings.intuit_client_id, self._settings.intuit_client_secret.get_secret_value()
        )

    async def _token_request(self, data: dict[str, str]) -> dict[str, Any]:
        endpoint = (await self.discovery()).token_endpoint
        response = await self._send(
            "POST",
            endpoint,
            data=data,
            auth=self._client_auth(),
            headers={HARD_EXPIRY_HEADER: "true"},
            what="token",
        )
        body = _json_object(response)
        if response.status_code == 200:
            if not body.get("access_token") or not body.get("refresh_token"):
                raise IntuitUnavailable("Intuit's token endpoint answered 200 without both tokens")
            return body
        error = str(body.get("error") or f"http_{response.status_code}")
        if error == "invalid_grant":
            raise InvalidGrant("Intuit answered invalid_grant", code="invalid_grant")
        if response.status_code >= 500 or response.status_code == 429:
            raise IntuitUnavailable(f"Intuit's token endpoint answered {response.status_code}")
        raise IntuitRefused(f"Intuit's token endpoint refused the request ({error})", code=error)

    async def _qbo_get(
        self, url: str, access_token: str, *, entity: str, query: str | None = None
    ) -> dict[str, Any]:
        params = {"minorversion": str(self._settings.qbo_minor_version)}
        if query is not None:
            params["query"] = query
        headers = {"Authorization": f"Bearer {access_token}"}
        response = await self._send("GET", url, params=params, headers=headers, what=entity)
        if response.status_code in (401, 403):
            raise AccessTokenRejected(
                f"QBO refused the access token reading {entity} ({response.status_code})"
            )
        if response.status_code >= 500 or response.status_code == 429:
            raise IntuitUnavailable(f"QBO answered {response.status_code} reading {entity}")
        found = _json_object(response).get(entity)
        if response.status_code != 200 or not isinstance(found, dict):
            raise IntuitRefused(f"QBO answered {response.status_code} without {entity}")
        return found

    async def _json(self, method: str, url: str, *, what: str) -> dict[str, Any]:
        response = await self._send(method, url, what=what)
        if response.status_code != 200:
            raise IntuitUnavailable(f"{what} answered {response.status_code}")
        return _json_object(response)

    async def _send(self, method: str, url: str, *, what: str, **kwargs: Any) -> httpx.Response:
        headers = {"Accept": "application/json", **kwargs.pop("headers", {})}
        try:
            return await self._http.request(
                method, url, headers=headers, timeout=self._settings.intuit_timeout_seconds, **kwargs
            )
        except httpx.HTTPError as exc:
            # The exception text may quote the URL, never the body: safe to name the type only.
            raise IntuitUnavailable(f"{what} request failed: {type(exc).__name__}") from None


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
