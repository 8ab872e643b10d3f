"""What the webhooks service's handlers and background work share: settings and the QBO client."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from services.webhooks.settings import WebhooksSettings
from shared.http import Resources
from shared.qbo.client import QboClient
from shared.qbo.limits import RealmLimiter
from shared.qbo.tokens import AuthServiceTokens, TokenSource


@dataclass
class WebhooksDeps:
    """Built once per process by ``make_deps``; closed by the runtime at shutdown."""

    settings: WebhooksSettings
    http: httpx.AsyncClient
    qbo: QboClient
    limiter: RealmLimiter

    async def aclose(self) -> None:
        await self.limiter.aclose()
        await self.http.aclose()


def build_deps(res: Resources, *, tokens: TokenSource | None = None) -> WebhooksDeps:
    """The QBO client, getting tokens from auth (or ``tokens``: tests stand in for Intuit's OAuth)."""
    settings = res.settings
    if not isinstance(settings, WebhooksSettings):
        raise TypeError("the webhooks service runs with WebhooksSettings")
    http = httpx.AsyncClient(timeout=settings.qbo_timeout_seconds)
    source = tokens or AuthServiceTokens(
        http=http,
        auth_url=settings.auth_internal_url,
        internal_token=settings.internal_token.get_secret_value(),
    )
    limiter = settings.limiter(res.sessionmaker)
    qbo = QboClient(http=http, tokens=source, limiter=limiter)
    return WebhooksDeps(settings=settings, http=http, qbo=qbo, limiter=limiter)
