"""Wiring of the exporter service: its definition for the shared runtime; no rules here."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter

from services.exporter import handlers, models, preview, repository, routes
from services.exporter.dispatcher import Dispatcher, worker_name
from services.exporter.export import Exporter
from services.exporter.settings import ExporterSettings
from shared import runtime
from shared.db import create_engine, create_sessionmaker
from shared.http import Resources
from shared.qbo.client import QboClient
from shared.qbo.limits import EXTRA_MIGRATIONS, RealmLimiter
from shared.qbo.tokens import AuthServiceTokens, TokenSource


def _routes() -> APIRouter:
    """The sync history API and the internal dry run the mapper asks (architecture §5b)."""
    api = APIRouter()
    api.include_router(routes.router)
    api.include_router(preview.router)
    return api


@dataclass
class Deps:
    """What the handlers and the dispatcher share: one HTTP client, tokens, the realm limiter."""

    settings: ExporterSettings
    http: httpx.AsyncClient
    tokens: TokenSource
    limiter: RealmLimiter
    client: QboClient
    worker: str = field(default_factory=worker_name)

    async def aclose(self) -> None:
        await self.limiter.aclose()
        await self.http.aclose()


def make_deps(
    res: Resources, *, tokens: TokenSource | None = None, transport: httpx.AsyncBaseTransport | None = None
) -> Deps:
    """The exporter's dependencies; ``tokens`` and ``transport`` are the seams to the outside world."""
    settings = res.settings
    assert isinstance(settings, ExporterSettings)
    http = httpx.AsyncClient(timeout=settings.qbo_timeout_seconds, transport=transport)
    tokens = tokens or AuthServiceTokens(
        http=http,
        auth_url=settings.auth_internal_url,
        internal_token=settings.internal_token.get_secret_value(),
    )
    limiter = settings.limiter(res.sessionmaker)
    client = QboClient(
        http=http,
        tokens=tokens,
        limiter=limiter,
        minor_version=settings.qbo_minor_version,
        throttle_pause_seconds=settings.throttle_pause_seconds,
    )
    return Deps(settings=settings, http=http, tokens=tokens, limiter=limiter, client=client)


async def dispatch(res: Resources, deps: Any) -> None:
    """The background loop writing claimed jobs to QBO."""
    exporter = Exporter(
        client=deps.client, sessionmaker=res.sessionmaker, settings=deps.settings, worker=deps.worker
    )
    # The claim's own small pool, its planner settings made once a connection (see repository.claim).
    claims = create_engine(
        deps.settings.database_url,
        application_name="qbb-exporter-claims",
        pool_size=1,
        max_overflow=1,
        server_settings=repository.CLAIM_PLANNING,
    )
    try:
        dispatcher = Dispatcher(
            sessionmaker=res.sessionmaker,
            claims=create_sessionmaker(claims),
            exporter=exporter,
            settings=deps.settings,
            worker=deps.worker,
        )
        await dispatcher.run()
    finally:
        await claims.dispose()


DEFINITION = runtime.ServiceDefinition(
    name="exporter",
    description=(
        "The write path to QBO: ordering, rate limits, batching, idempotent writes, retries, sync history."
    ),
    schema=models.SCHEMA,
    metadata=models.metadata,
    migrations_dir=Path(__file__).parent / "migrations",
    inbox=models.inbox,
    outbox=models.outbox,
    router=handlers.router,
    routes=_routes(),
    make_deps=make_deps,
    extra_migrations=EXTRA_MIGRATIONS,
    background=(dispatch,),
)


def main() -> None:
    """Entry point of ``python -m services.exporter``."""
    runtime.main(DEFINITION, ExporterSettings)
