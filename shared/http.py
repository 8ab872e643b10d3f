"""What every service's HTTP surface shares: health, readiness, metrics, sessions, callers, body limits."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Annotated

from aio_pika.abc import AbstractRobustConnection
from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.db import ping
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Resources:
    """The long-lived things a service's routes use, built once by the runtime."""

    settings: ServiceSettings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    connection: AbstractRobustConnection


def resources(request: Request) -> Resources:
    """The service's ``Resources`` (set on ``app.state`` by the runtime)."""
    found: Resources = request.app.state.resources
    return found


async def db_session(res: Annotated[Resources, Depends(resources)]) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed before the response is sent (the boundary commits)."""
    async with res.sessionmaker() as session, session.begin():
        yield session


ResourcesDep = Annotated[Resources, Depends(resources)]
SessionDep = Annotated[AsyncSession, Depends(db_session, scope="function")]

_bearer = HTTPBearer(auto_error=False)


def secrets_match(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def bearer_token(credentials: HTTPAuthorizationCredentials | None) -> str:
    """The bearer token of a request, or 401 saying how to send one."""
    if credentials is None or not credentials.credentials:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing credentials: send 'Authorization: Bearer <api key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return credentials.credentials


async def require_admin(
    res: ResourcesDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """Only the operator's admin key (``QBB_ADMIN_API_KEY``) passes."""
    if not secrets_match(bearer_token(credentials), res.settings.admin_api_key.get_secret_value()):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this route needs the admin API key")


async def require_internal(
    res: ResourcesDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """Only another qbo-bridge service (``QBB_INTERNAL_TOKEN``) passes."""
    if not secrets_match(bearer_token(credentials), res.settings.internal_token.get_secret_value()):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this route is for qbo-bridge services only")


ops_router = APIRouter(tags=["operations"])


@ops_router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@ops_router.get("/readyz")
async def readyz(res: ResourcesDep, response: Response) -> dict[str, str]:
    """Readiness: the database answers and the broker connection is open; 503 naming what is down."""
    checks = {"database": "ok", "broker": "ok"}
    try:
        await ping(res.engine)
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; say which
        checks["database"] = f"down: {type(exc).__name__}"
    if res.connection.is_closed:
        checks["broker"] = "down: connection closed"
    if any(v != "ok" for v in checks.values()):
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return checks


@ops_router.get("/metrics", response_class=Response)
async def metrics() -> Response:
    """Prometheus metrics of this process."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


HTTP_BODIES_REFUSED = Counter(
    "qbb_http_bodies_refused_total", "Request bodies refused with 413 before parsing, by limit", ["limit"]
)


DRAIN_SECONDS = 10.0
DRAIN_BYTES = 512 * 1024 * 1024


class _TooLarge(Exception):
    """Raised from ``receive`` once a streamed body passes its limit; answered with 413."""


class BodyLimit:
    """Pure ASGI middleware: 413 for a request body over its limit, before anything parses it.

    A declared ``Content-Length`` over the limit is refused without reading a byte; otherwise
    (chunked bodies too) bytes are counted as the app reads them and the read that passes the
    limit fails, the app's own answer is dropped and 413 sent instead. ``overrides`` maps a path
    prefix to its own limit (e.g. the webhook receiver's); the longest matching prefix wins.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, overrides: Mapping[str, int] | None = None) -> None:
        self._app, self._max_bytes = app, max_bytes
        self._overrides = sorted((overrides or {}).items(), key=lambda kv: len(kv[0]), reverse=True)

    def _limit_for(self, path: str) -> tuple[str, int]:
        for prefix, limit in self._overrides:
            if path.startswith(prefix):
                return prefix, limit
        return "default", self._max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        name, limit = self._limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, name, limit)
            return
        received, exceeded, started = 0, False, False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if not exceeded:  # once over the limit, the app's own answer is replaced by 413
                started = True
                await send(message)

        try:
            await self._app(scope, limited_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await self._refuse(scope, receive, send, name, limit)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, name: str, limit: int) -> None:
        """Send 413 at once; then read and drop the rest (bounded) so a client still writing sees it.

        Closing on a client that is still writing makes the kernel reset the connection, and the
        client loses the 413 it has not read yet; so the body is drained (nothing kept) for up to
        ``DRAIN_SECONDS`` / ``DRAIN_BYTES`` before the response ends and the connection closes.
        """
        HTTP_BODIES_REFUSED.labels(name).inc()
        client = scope.get("client")
        log.warning(
            "request body over the limit",
            extra={"path": scope["path"], "limit": limit, "client": client[0] if client else None},
        )
        body = json.dumps({"detail": f"request body over the limit of {limit} bytes"}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send(
            {"type": "http.response.start", "status": 413, "headers": [*headers, (b"connection", b"close")]}
        )
        await send({"type": "http.response.body", "body": body, "more_body": True})
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DRAIN_SECONDS):
                await _drain(receive, DRAIN_BYTES)
        await send({"type": "http.response.body", "body": b""})


async def _drain(receive: Receive, limit: int) -> None:
    drained = 0
    while drained <= limit:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return
        drained += len(message.get("body", b""))
