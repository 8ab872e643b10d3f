"""Wiring of the exporter service: its definition for the shared runtime; no rules here."""

from __future__ import annotations

from pathlib import Path

from services.exporter import handlers, models, routes
from services.exporter.settings import ExporterSettings
from shared import runtime

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
    routes=routes.router,
)


def main() -> None:
    """Entry point of ``python -m services.exporter``."""
    runtime.main(DEFINITION, ExporterSettings)
