"""Wiring of the console: settings, the services' client, sessions, templates; no rules."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from services.console import routes, routes_operator, routes_sync
from services.console.backend import Backend, KeyRefused, Unavailable
from services.console.sessions import SessionStore
from services.console.settings import ConsoleSettings
from services.console.web import (
    COOKIE,
    HERE,
    BadCsrf,
    Console,
    OperatorOnly,
    SignInRequired,
    console_of,
    page,
)
from shared.logging import configure_logging
from shared.runtime import KEEP_ALIVE_SECONDS

# The pages load nothing from elsewhere; a strict policy makes an injected script inert.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; form-action 'self' https: http:; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def create_app(settings: ConsoleSettings, backend: Backend | None = None) -> FastAPI:
    """The console's ASGI app (``backend`` given by tests that own its HTTP client)."""
    console = Console(
        settings=settings,
        backend=backend or Backend(settings),
        sessions=SessionStore(ttl=settings.session_ttl_seconds, idle=settings.session_idle_seconds),
        templates=Jinja2Templates(directory=HERE / "templates"),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await console.backend.aclose()

    app = FastAPI(title="qbo-bridge console", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.console = console
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(routes.router)
    app.include_router(routes_sync.router)
    app.include_router(routes_operator.router)
    app.add_exception_handler(SignInRequired, _to_sign_in)
    app.add_exception_handler(BadCsrf, _bad_csrf)
    app.add_exception_handler(OperatorOnly, _operator_only)
    app.add_exception_handler(Unavailable, _unavailable)
    app.add_exception_handler(KeyRefused, _key_refused)
    app.add_exception_handler(httpx.HTTPStatusError, _failed)
    app.middleware("http")(_security_headers)
    return app


async def _security_headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    response = await call_next(request)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


async def _to_sign_in(request: Request, _: Exception) -> Response:
    return RedirectResponse("/sign-in", status_code=303)


def _error_page(request: Request, status_code: int, title: str, message: str) -> HTMLResponse:
    console = console_of(request)
    session = console.sessions.get(request.cookies.get(COOKIE))
    return page(
        request, console, "error.html", session, status_code=status_code, title=title, message=message
    )


async def _bad_csrf(request: Request, _: Exception) -> HTMLResponse:
    message = "The form was not sent by this page (or the page is stale); nothing was changed."
    return _error_page(request, 403, "Refused", message)


async def _operator_only(request: Request, _: Exception) -> HTMLResponse:
    return _error_page(request, 403, "Operators only", "This page needs the operator's admin key.")


async def _unavailable(request: Request, exc: Exception) -> HTMLResponse:
    return _error_page(request, 503, "Unavailable", f"{exc}; try again in a moment.")


async def _key_refused(request: Request, exc: Exception) -> HTMLResponse:
    message = f"{exc} (revoked, or issued moments ago and not known there yet). Sign in again if it persists."
    return _error_page(request, 401, "Key refused", message)


async def _failed(request: Request, exc: Exception) -> HTMLResponse:
    status = exc.response.status_code if isinstance(exc, httpx.HTTPStatusError) else 0
    return _error_page(
        request, 502, "Service error", f"A service answered HTTP {status}; try again in a moment."
    )


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # SIGTERM or Ctrl-C: finish the requests in flight and exit 0 (uvicorn would re-raise the signal).
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.handle_exit, sig, None)
        yield


def main() -> None:
    """Entry point of ``python -m services.console``."""
    settings = ConsoleSettings()
    configure_logging(settings.service_name, settings.log_level)
    config = uvicorn.Config(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
        timeout_keep_alive=KEEP_ALIVE_SECONDS,  # past clients' idle expiry (see shared.runtime)
    )
    asyncio.run(_Server(config).serve())
