"""Wiring of the auth service: its definition for the shared runtime; no rules here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.auth import background, handlers, models, routes, webhook_sender
from services.auth.deps import AuthDeps, build_deps
from services.auth.settings import AuthSettings
from shared import runtime
from shared.http import Resources
from shared.qbo.limits import EXTRA_MIGRATIONS


def make_deps(res: Resources) -> AuthDeps:
    settings = res.settings
    if not isinstance(settings, AuthSettings):
        settings = AuthSettings.model_validate(settings.model_dump())
    return build_deps(settings, limiter=settings.limiter(res.sessionmaker))


async def _reencrypt(settings: Any) -> None:
    await background.reencrypt_tokens(settings)


DEFINITION = runtime.ServiceDefinition(
    name="auth",
    description=(
        "OAuth handshake and connection lifecycle: encrypted tokens, refresh, revoke, company profile; "
        "platforms, their tenants and what flows back to them (egress over AMQP and webhooks)."
    ),
    schema=models.SCHEMA,
    metadata=models.metadata,
    migrations_dir=Path(__file__).parent / "migrations",
    inbox=models.inbox,
    outbox=models.outbox,
    router=handlers.router,
    routes=routes.router,
    private_routes=routes.private_router,
    make_deps=make_deps,
    background=(background.refresher, webhook_sender.sender),
    commands={"reencrypt-tokens": _reencrypt},
    extra_migrations=EXTRA_MIGRATIONS,
)


def main() -> None:
    """Entry point of ``python -m services.auth`` (``migrate``, ``reencrypt-tokens``)."""
    runtime.main(DEFINITION, AuthSettings)
