"""Wiring of the webhooks service: its definition for the shared runtime; no rules here."""

from __future__ import annotations

from pathlib import Path

from services.webhooks import catchup, handlers, models, processing, routes
from services.webhooks.deps import build_deps
from services.webhooks.settings import WebhooksSettings
from shared import runtime
from shared.qbo.limits import EXTRA_MIGRATIONS

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
    make_deps=build_deps,
    extra_migrations=EXTRA_MIGRATIONS,
    body_limits=lambda settings: {"/v1/webhooks/qbo": settings.webhook_max_body_bytes},
    background=(processing.run_processor, processing.run_housekeeping, catchup.run_cdc, catchup.run_imports),
)


def main() -> None:
    """Entry point of ``python -m services.webhooks``."""
    runtime.main(DEFINITION, WebhooksSettings)
