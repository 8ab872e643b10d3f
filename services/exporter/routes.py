"""HTTP endpoints of the exporter service (health, readiness and metrics come from the runtime)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status
from sqlalchemy import select

from services.exporter import models, repository, schemas
from shared.apikeys import Caller, caller_dependency
from shared.http import SessionDep

router = APIRouter(tags=["sync history"])
CallerDep = Annotated[Caller, Depends(caller_dependency(models.api_keys))]
JobStatus = Literal["queued", "running", "succeeded", "failed", "parked", "skipped"]


async def _require_connection(session: SessionDep, caller: Caller, connection_id: str) -> None:
    tenant_id = (
        await session.execute(
            select(models.connections.c.tenant_id).where(models.connections.c.connection_id == connection_id)
        )
    ).scalar_one_or_none()
    if tenant_id is None and not caller.is_admin:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    if tenant_id is not None:
        caller.require(tenant_id)


@router.get("/v1/connections/{connection_id}/jobs")
async def list_jobs(
    connection_id: str,
    caller: CallerDep,
    session: SessionDep,
    job_status: Annotated[JobStatus | None, Query(alias="status")] = None,
    since: dt.datetime | None = None,
    object_type: str | None = None,
    before_seq: Annotated[int | None, Query(ge=1, description="Only jobs older than this seq")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> schemas.JobList:
    """The sync history of a connection → every job with its outcome, newest first."""
    await _require_connection(session, caller, connection_id)
    rows = await repository.list_jobs(
        session,
        connection_id=connection_id,
        status=job_status,
        since=since,
        object_type=object_type,
        before_seq=before_seq,
        limit=limit,
    )
    return schemas.JobList(jobs=[schemas.JobOut.model_validate(dict(r)) for r in rows])


@router.post("/v1/jobs/{job_id}/retry")
async def retry_job(job_id: str, caller: CallerDep, session: SessionDep) -> schemas.JobOut:
    """Retry a failed or parked job now → the job, queued again with fresh attempts."""
    job = await repository.get_job(session, job_id=job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    await _require_connection(session, caller, job["connection_id"])
    if job["status"] not in ("failed", "parked"):
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"job is {job['status']}; only failed or parked jobs are retried"
        )
    await repository.redrive(session, job_id=job_id)
    await repository.notify(session)
    again = await repository.get_job(session, job_id=job_id)
    return schemas.JobOut.model_validate(dict(again or job))


@router.post("/v1/connections/{connection_id}/sync-now")
async def sync_now(connection_id: str, caller: CallerDep, session: SessionDep) -> schemas.Redriven:
    """Re-drive a connection's parked and failed jobs now → how many went back to the queue."""
    await _require_connection(session, caller, connection_id)
    count = await repository.redrive(session, connection_id=connection_id)
    await repository.notify(session)
    return schemas.Redriven(requeued=count)


@router.post("/v1/jobs/{job_id}/repush", status_code=status.HTTP_202_ACCEPTED)
async def repush_job(job_id: str, caller: CallerDep, session: SessionDep) -> schemas.JobOut:
    """Re-push a succeeded write → a new job sending the same data to QuickBooks again (an update)."""
    job = await repository.get_job(session, job_id=job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    await _require_connection(session, caller, job["connection_id"])
    new_id = str(uuid.uuid4())
    if not await repository.repush(session, job_id=job_id, new_id=new_id):
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"job is a {job['status']} {job['operation']}; only a succeeded create or update is re-pushed",
        )
    await repository.notify(session)
    again = await repository.get_job(session, job_id=new_id)
    return schemas.JobOut.model_validate(dict(again or job))
