"""Wiring of the webhooks service: its definition for the shared runtime; no rules here."""

from __future__ import annotations

from pathlib import Path

from services.webhooks import handlers, models, routes
from services.webhooks.settings import WebhooksSettings
from shared import runtime

DEFINITION = runtime.ServiceDefinition(
    name="webhooks",
    description=("The read path from QBO: signed webhooks, entity fetch, CDC catch-up, reference import."),
    schema=models.SCHEMA,
    metadata=models.metadata,
    migrations_dir=Path(__file__).parent / "migrations",
    inbox=models.inbox,
    outbox=models.outbox,
    router=handlers.router,
    routes=routes.router,
)


def main() -> None:
    """Entry point of ``python -m services.webhooks``."""
    runtime.main(DEFINITION, WebhooksSettings)
