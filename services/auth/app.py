"""Wiring of the auth service: its definition for the shared runtime; no rules here."""

from __future__ import annotations

from pathlib import Path

from services.auth import handlers, models, routes
from services.auth.settings import AuthSettings
from shared import runtime

DEFINITION = runtime.ServiceDefinition(
    name="auth",
    description=(
        "OAuth handshake and connection lifecycle: encrypted tokens, refresh, revoke, company profile."
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
    """Entry point of ``python -m services.auth``."""
    runtime.main(DEFINITION, AuthSettings)
