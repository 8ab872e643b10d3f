"""What every service's HTTP surface shares: health, readiness, metrics, sessions, caller checks."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from aio_pika.abc import AbstractRobustConnection
from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.db import ping
from shared.settings import ServiceSettings


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
