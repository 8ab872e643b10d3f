"""Wiring: one Starlette app serving Intuit's OAuth, the Accounting API, /admin and the HTML view."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.routing import Route

from sandbox import admin, api, html, oauth
from sandbox.asgi import ASGIApp, with_fast_v3
from sandbox.limits import LimitSettings
from sandbox.runtime import Runtime


def _discovery_routes() -> list[Route]:
    paths = ("/.well-known/openid_configuration", "/.well-known/openid_sandbox_configuration")
    return [Route(p + slash, oauth.discovery, methods=["GET"]) for p in paths for slash in ("", "/")]


def create_app(*, limits: LimitSettings | None = None, webhook_delay: float | None = None) -> ASGIApp:
    """The sandbox ASGI app with fresh in-memory state (`.state.runtime` exposes it to tests)."""
    runtime = Runtime()
    if limits is not None:
        runtime.limits.settings = limits
    if webhook_delay is not None:
        runtime.dispatcher.settings.delay_seconds = webhook_delay

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await runtime.dispatcher.close()

    routes = [
        *_discovery_routes(),
        Route("/op/v1/jwks", oauth.jwks, methods=["GET"]),
        Route("/connect/oauth2", oauth.consent_page, methods=["GET"]),
        Route("/connect/oauth2", oauth.consent_submit, methods=["POST"]),
        Route("/oauth2/v1/tokens/bearer", oauth.token, methods=["POST"]),
        Route("/v2/oauth2/tokens/revoke", oauth.revoke, methods=["POST"]),
        Route("/v1/openid_connect/userinfo", oauth.userinfo, methods=["GET"]),
        *admin.ROUTES,
        Route("/", html.index, methods=["GET"]),
        Route("/companies/{realm_id}", html.company, methods=["GET"]),
        Route("/companies/{realm_id}/{entity}/{qbo_id}", html.company_object, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.runtime = runtime
    # The Accounting API bypasses Starlette's router and Request objects: it is the hot path.
    return with_fast_v3(app, api.handler(runtime))
