"""Settings every service that calls QuickBooks shares, so all of them count the same limits."""

from __future__ import annotations

from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.qbo.limits import RealmLimiter
from shared.settings import ServiceSettings


class QboSettings(ServiceSettings):
    """QBO API version, timeouts and Intuit's per-realm limits (reference §6.1).

    ``qbo_time_scale`` mirrors the sandbox's ``time_scale`` so tests and benchmarks can compress
    a minute into seconds; every service calling QBO must use the same values.
    """

    qbo_minor_version: int = Field(default=75, ge=1)
    qbo_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    qbo_per_second: int = Field(default=10, ge=1)
    qbo_per_minute: int = Field(default=500, ge=1)
    qbo_concurrent: int = Field(default=10, ge=1)
    qbo_batch_per_minute: int = Field(default=40, ge=1)
    qbo_time_scale: float = Field(default=1.0, gt=0)

    def limiter(self, sessionmaker: async_sessionmaker[AsyncSession]) -> RealmLimiter:
        """The per-realm limiter with these limits, shared through Postgres with every replica."""
        return RealmLimiter(
            sessionmaker,
            per_second=self.qbo_per_second,
            per_minute=self.qbo_per_minute,
            concurrent=self.qbo_concurrent,
            batch_per_minute=self.qbo_batch_per_minute,
            time_scale=self.qbo_time_scale,
        )
