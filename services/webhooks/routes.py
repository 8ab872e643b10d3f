"""HTTP endpoints of the webhooks service (health, readiness and metrics come from the runtime)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Depends, HTTPException, Request, status
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from services.webhooks import models, repository, schemas, service
from services.webhooks.payloads import MalformedPayload, body_digest, parse_body
from services.webhooks.repository import AnyRow
from services.webhooks.settings import WebhooksSettings
from shared.apikeys import Caller, caller_dependency
from shared.http import ResourcesDep, SessionDep, require_admin
from shared.qbo.signature import SIGNATURE_HEADER, verify

log = logging.getLogger(__name__)
router = APIRouter()

CallerDep = Annotated[Caller, Depends(caller_dependency(models.api_keys))]
WEBHOOKS_REFUSED = Counter("qbb_webhooks_refused_total", "Webhook deliveries refused, by reason", ["reason"])
WEBHOOKS_STORED = Counter("qbb_webhooks_stored_total", "Webhook deliveries stored, by format", ["format"])


@router.post("/v1/webhooks/qbo", response_model=schemas.WebhookAccepted, tags=["webhooks"])
async def receive_webhook(request: Request, res: ResourcesDep) -> schemas.WebhookAccepted:
    """Intuit's webhook (legacy or CloudEvents) → signature checked, body stored, 200; processed later."""
    settings = cast(WebhooksSettings, res.settings)
    body = await _read_body(request, settings.webhook_max_body_bytes)
    if not verify(body, request.headers.get(SIGNATURE_HEADER), settings.verifier_tokens()):
        _refuse("bad_signature", "webhook with a missing or wrong intuit-signature", request)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or wrong intuit-signature")
    try:
        fmt, changes = parse_body(body)
    except MalformedPayload as exc:
        _refuse("malformed", "signed webhook body in neither format", request, problems=exc.problems)
        raise HTTPException(status.HTTP_400_BAD_REQUEST, {"problems": exc.problems}) from None
    # The session opens only now: a flood of unsigned requests never takes a database connection.
    async with res.sessionmaker() as session, session.begin():
        stored = await repository.store_delivery(
            session, digest=body_digest(body), fmt=fmt, body=body.decode()
        )
    WEBHOOKS_STORED.labels(fmt).inc()
    return schemas.WebhookAccepted(status="stored" if stored else "duplicate", changes=len(changes))


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        _refuse("too_large", "webhook body over the size limit", request)
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"body over {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            _refuse("too_large", "webhook body over the size limit", request)
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _refuse(reason: str, message: str, request: Request, **extra: Any) -> None:
    WEBHOOKS_REFUSED.labels(reason).inc()
    client = request.client.host if request.client else None
    log.warning(
        message,
        extra={"reason": reason, "client": client, "intuit_tid": request.headers.get("intuit-t-id"), **extra},
    )


@router.post(
    "/v1/connections/{connection_id}/import",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=schemas.ImportJob,
    tags=["imports"],
)
async def request_import(
    connection_id: str, caller: CallerDep, session: SessionDep, body: schemas.ImportRequest | None = None
) -> schemas.ImportJob:
    """→ every reference list published with operation Import, or the entities asked for, by creation date."""
    limits = body.model_dump(exclude_none=True) if body is not None else {}
    refused = service.import_refusal(
        limits.get("entities", []), limits.get("created_from"), limits.get("created_to")
    )
    if refused is not None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, refused)
    return await _request_job(session, caller, connection_id, "import", limits)


@router.get(
    "/v1/connections/{connection_id}/imports", response_model=list[schemas.ImportJob], tags=["imports"]
)
async def list_imports(connection_id: str, caller: CallerDep, session: SessionDep) -> list[schemas.ImportJob]:
    """The connection's imports and updates, newest first, with their progress per entity."""
    await _connection(session, caller, connection_id)
    return [_job_out(job) for job in await repository.import_jobs(session, connection_id=connection_id)]


@router.post(
    "/v1/connections/{connection_id}/update",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=schemas.ImportJob,
    tags=["imports"],
)
async def request_update(connection_id: str, caller: CallerDep, session: SessionDep) -> schemas.ImportJob:
    """→ only the reference objects already known fetched again and published (operation Import)."""
    return await _request_job(session, caller, connection_id, "update")


@router.get(
    "/v1/connections/{connection_id}/imports/{job_id}", response_model=schemas.ImportJob, tags=["imports"]
)
async def get_import(
    connection_id: str, job_id: str, caller: CallerDep, session: SessionDep
) -> schemas.ImportJob:
    """The progress of an import or update."""
    await _connection(session, caller, connection_id)
    job = await repository.import_job(session, job_id=job_id)
    if job is None or job.connection_id != connection_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such import")
    return _job_out(job)


@router.post(
    "/v1/connections/{connection_id}/catch-up",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=schemas.CatchUpScheduled,
    tags=["imports"],
)
async def request_catch_up(
    connection_id: str, caller: CallerDep, session: SessionDep
) -> schemas.CatchUpScheduled:
    """→ CDC since the connection's watermark now, rather than at the next scheduled run."""
    await _connection(session, caller, connection_id, active=True)
    await repository.schedule_cdc(session, connection_id=connection_id, changed_since=datetime.now(UTC))
    mark = await repository.watermark(session, connection_id=connection_id)
    assert mark is not None  # scheduled just above
    return schemas.CatchUpScheduled(connection_id=connection_id, changed_since=mark.changed_since)


@router.get(
    "/v1/webhooks/unknown-realms",
    response_model=list[schemas.UnknownRealm],
    dependencies=[Depends(require_admin)],
    tags=["webhooks"],
)
async def list_unknown_realms(session: SessionDep) -> list[schemas.UnknownRealm]:
    """Realms Intuit sent changes for that no connection has (kept; processed once one connects)."""
    rows = await repository.unknown_realms(session)
    return [schemas.UnknownRealm.model_validate(row, from_attributes=True) for row in rows]


async def _request_job(
    session: AsyncSession,
    caller: Caller,
    connection_id: str,
    kind: Literal["import", "update"],
    limits: dict[str, Any] | None = None,
) -> schemas.ImportJob:
    await _connection(session, caller, connection_id, active=True)
    job_id = await repository.create_import_job(
        session, connection_id=connection_id, kind=kind, limits=limits
    )
    job = await repository.import_job(session, job_id=job_id)
    assert job is not None  # created just above
    return _job_out(job)


async def _connection(
    session: AsyncSession, caller: Caller, connection_id: str, *, active: bool = False
) -> AnyRow:
    found = await repository.connection(session, connection_id=connection_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    caller.require(found.tenant_id)
    if active and found.status != "active":
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"the connection is {found.status}; reconnect it to QuickBooks first"
        )
    return found


def _job_out(job: AnyRow) -> schemas.ImportJob:
    return schemas.ImportJob.model_validate(job, from_attributes=True)
