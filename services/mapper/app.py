"""Wiring of the mapper service: its definition for the shared runtime; no rules here."""

from __future__ import annotations

from pathlib import Path

from services.mapper import handlers, models, routes
from services.mapper.settings import MapperSettings
from shared import runtime

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
    routes=routes.router,
)


def main() -> None:
    """Entry point of ``python -m services.mapper``."""
    runtime.main(DEFINITION, MapperSettings)
