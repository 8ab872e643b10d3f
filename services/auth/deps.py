"""The long-lived collaborators of the auth service's routes and background work."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from services.auth.broker_admin import BrokerAdmin
from services.auth.crypto import TokenCipher
from services.auth.intuit import IntuitClient
from services.auth.ratelimit import SlidingWindow
from services.auth.settings import AuthSettings
from shared.qbo.limits import RealmLimiter


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class AuthDeps:
    """Settings, the token cipher, the Intuit client, the broker's user admin and the clock."""

    settings: AuthSettings
    cipher: TokenCipher
    intuit: IntuitClient
    http: httpx.AsyncClient
    broker: BrokerAdmin
    reconnect_limiter: SlidingWindow
    now: Callable[[], dt.datetime] = field(default=utc_now)
    limiter: RealmLimiter | None = None  # QBO's per-realm limits, for the company-profile calls

    async def aclose(self) -> None:
        if self.limiter is not None:
            await self.limiter.aclose()
        await self.http.aclose()


def build_deps(settings: AuthSettings, *, limiter: RealmLimiter | None = None) -> AuthDeps:
    """Everything from the settings; refuses to run without encryption keys in production."""
    cipher = TokenCipher.from_setting(
        settings.token_encryption_keys.get_secret_value(),
        allow_dev_key=settings.environment != "production",
    )
    http = httpx.AsyncClient(limits=httpx.Limits(max_connections=50))
    return AuthDeps(
        settings=settings,
        cipher=cipher,
        intuit=IntuitClient(http=http, settings=settings, limiter=limiter),
        http=http,
        broker=BrokerAdmin(http, settings),
        reconnect_limiter=SlidingWindow(limit=settings.reconnect_rate_limit_per_minute),
        limiter=limiter,
    )
