"""Wiring of the mapper service: its definition for the shared runtime; no rules here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter

from services.mapper import announcements, bulk, handlers, ingest, models, routes
from services.mapper.settings import MapperSettings
from shared import runtime
from shared.http import Resources


def _routes() -> APIRouter:
    """The service's HTTP routes: the one-by-one API and the bulk one (architecture §5b)."""
    api = APIRouter()
    api.include_router(routes.router)
    api.include_router(bulk.router)
    return api


def _settings(res: Resources) -> MapperSettings:
    assert isinstance(res.settings, MapperSettings)
    return res.settings


async def release_overdue(res: Resources, settings: Any) -> None:
    """The background loop mapping events whose wait for their company's lists is over."""
    await ingest.run_release_overdue(res.sessionmaker, settings)


async def announce_settings(res: Resources, settings: Any) -> None:
    """The background loop announcing settings no event announced (saved by an older version)."""
    await announcements.run_catch_up(res.sessionmaker, settings)


DEFINITION = runtime.ServiceDefinition(
    name="mapper",
    description=(
        "Event ingest and validation, per-connection settings, the QBO reference mirror, readiness, mapping."
    ),
    schema=models.SCHEMA,
    metadata=models.metadata,
    migrations_dir=Path(__file__).parent / "migrations",
    inbox=models.inbox,
    outbox=models.outbox,
    router=handlers.router,
    routes=_routes(),
    make_deps=_settings,
    background=(release_overdue, announce_settings),
    # The bulk route bounds its own body while reading it (QBB_BULK_MAX_BYTES, far over the 1 MiB of
    # every other route); under the service-wide limit alone it took no history file over 1 MiB.
    body_limits=lambda settings: {"/v1/events/bulk": settings.bulk_max_bytes},
)


def main() -> None:
    """Entry point of ``python -m services.mapper``."""
    runtime.main(DEFINITION, MapperSettings)
