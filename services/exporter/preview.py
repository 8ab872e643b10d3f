"""The dry run of a bulk file, asked by the mapper (architecture §5b): what the write path would do.

Internal (the services' shared token): the mapper maps the lines, the exporter judges the writes by
its own rules against QBO (queries only) and its links, so a dry run links exactly where a write would.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Request

from services.exporter import schemas, service
from services.exporter.export import Exporter
from shared.http import ResourcesDep, require_internal

router = APIRouter(tags=["internal"], dependencies=[Depends(require_internal)])


@router.post("/internal/v1/preview", response_model=schemas.PreviewOut)
async def preview(body: schemas.PreviewIn, request: Request, res: ResourcesDep) -> schemas.PreviewOut:
    """Export requests → the write path's verdict on each (create, update, link, reject); writes nothing."""
    deps = request.app.state.deps
    exporter = Exporter(
        client=deps.client, sessionmaker=res.sessionmaker, settings=deps.settings, worker="preview"
    )
    now = dt.datetime.now(dt.UTC)
    verdicts = await exporter.preview([service.preview_job(r, now=now) for r in body.requests])
    return schemas.PreviewOut(
        verdicts=[schemas.VerdictOut(action=v.action, qbo_id=v.qbo_id, reason=v.reason) for v in verdicts]
    )
