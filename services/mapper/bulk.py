"""History in bulk (architecture §5b): NDJSON ingest, its dry run, and a batch's progress."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from services.mapper import batch_repository, platforms, repository, schemas, service, write_path
from services.mapper.mapping import Rejection
from services.mapper.routes import CallerDep, for_caller
from services.mapper.settings import MapperSettings
from services.mapper.sync_settings import SyncSettings
from shared.apikeys import Caller
from shared.contracts import InvalidMessage, Problem, decode_data, decode_envelope
from shared.contracts.common import Contract
from shared.contracts.envelope import Envelope
from shared.contracts.internal import ExportRequested
from shared.http import ResourcesDep, SessionDep
from shared.messaging import topology

router = APIRouter(tags=["mapper"])
NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl", "application/json-seq")
NDJSON_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
        "description": "One structured CloudEvent (a platform event) a line, as POST /v1/events takes",
    }
}


@dataclass
class Lines:
    """A bulk body checked line by line: the valid envelopes (with their data) and the problems."""

    valid: list[tuple[int, Envelope, Contract]] = field(default_factory=list)
    rejected: list[schemas.LineRejected] = field(default_factory=list)
    tenant: str | None = None
    total: int = 0


async def _read_lines(request: Request, settings: MapperSettings) -> list[tuple[int, bytes]]:
    """The body's non-blank lines with their numbers; 413 as soon as a limit is passed."""
    size, pending, lines, number = 0, b"", [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > settings.bulk_max_bytes:
            raise HTTPException(
                status.HTTP_413_CONTENT_TOO_LARGE, f"the body is over {settings.bulk_max_bytes} bytes"
            )
        *complete, pending = (pending + chunk).split(b"\n")
        for raw in complete:
            number += 1
            if raw.strip():
                lines.append((number, raw))
        _within_lines(len(lines), settings)
    if pending.strip():
        lines.append((number + 1, pending))
    _within_lines(len(lines), settings)
    return lines


def _within_lines(count: int, settings: MapperSettings) -> None:
    if count > settings.bulk_max_lines:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE, f"more than {settings.bulk_max_lines} lines; split the file"
        )


def _check(raw: bytes, caller: Caller, lines: Lines, seen: dict[str, int]) -> tuple[Envelope, Contract]:
    """One line validated exactly as POST /v1/events validates a body, plus the batch's own rules."""
    envelope = for_caller(decode_envelope(raw), caller)
    data = decode_data(envelope)
    if lines.tenant is not None and envelope.tenantid != lines.tenant:
        raise InvalidMessage(
            "another tenant", [Problem("$.tenantid", f"a batch is for one tenant ('{lines.tenant}')")]
        )
    if envelope.id in seen:
        raise InvalidMessage("repeated id", [Problem("$.id", f"repeats the id of line {seen[envelope.id]}")])
    return envelope, data


def _validate(raw_lines: list[tuple[int, bytes]], caller: Caller) -> Lines:
    lines, seen = Lines(tenant=caller.tenant_id, total=len(raw_lines)), dict[str, int]()
    for number, raw in raw_lines:
        try:
            envelope, data = _check(raw, caller, lines, seen)
        except InvalidMessage as exc:
            problems = [schemas.ProblemOut(**p.as_dict()) for p in exc.problems]
            lines.rejected.append(schemas.LineRejected(line=number, problems=problems))
            continue
        seen[envelope.id] = number
        lines.tenant = envelope.tenantid
        lines.valid.append((number, envelope, data))
    return lines


@router.post(
    "/v1/events/bulk",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=schemas.BatchAccepted,
    responses={
        200: {"model": schemas.DryRun, "description": "?dry_run=true: what each line would do"},
        413: {"description": "Over the line or size limit"},
        415: {"description": "Not application/x-ndjson"},
        422: {"model": schemas.EventInvalid},
    },
    openapi_extra=NDJSON_BODY,
)
async def post_bulk(
    request: Request,
    caller: CallerDep,
    session: SessionDep,
    res: ResourcesDep,
    dry_run: Annotated[bool, Query(description="Say what each line would do; write nothing")] = False,
) -> Any:
    """NDJSON platform events → staged in order as one batch (202), or with ?dry_run=true a plan (200)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in NDJSON_TYPES:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send application/x-ndjson")
    assert isinstance(res.settings, MapperSettings)
    lines = _validate(await _read_lines(request, res.settings), caller)
    if dry_run:
        return JSONResponse((await _dry_run(session, lines, res.settings)).model_dump())
    if not lines.total or lines.tenant is None:
        problem = schemas.ProblemOut(path="$", message="no valid line names a tenant")
        body = schemas.EventInvalid(detail="nothing to accept", problems=[problem])
        return JSONResponse(body.model_dump(), status_code=422)
    batch_id = f"batch-{uuid.uuid4().hex}"
    # The history lane: its own queue, relayed after live rows, so live events never wait behind it.
    history = topology.queue_name(platforms.HISTORY_QUEUE, res.settings.amqp_namespace)
    for _, envelope, _ in lines.valid:
        await repository.stage_platform_event(session, envelope=envelope, queue=history)
    await batch_repository.create_batch(
        session,
        batch_id=batch_id,
        tenant_id=lines.tenant,
        total=lines.total,
        rejected_lines=len(lines.rejected),
        created_by=caller.name,
        events=[
            {"line": n, "event_id": e.id, "object_type": service.object_type(e.type)}
            for n, e, _ in lines.valid
        ],
    )
    return schemas.BatchAccepted(batch_id=batch_id, accepted=len(lines.valid), rejected=lines.rejected)


async def _dry_run(session: AsyncSession, lines: Lines, settings: MapperSettings) -> schemas.DryRun:
    """Each line mapped as the consumer maps it, its writes judged by the write path (the exporter,
    against QBO and its links); nothing is written."""
    steps = {
        r.line: service.refused("; ".join(f"{p.path}: {p.message}" for p in r.problems))
        for r in lines.rejected
    }
    mapped, imported = await _mapped(session, lines, steps)
    commands = [c for _, _, line_commands in mapped for c in line_commands]
    try:
        verdicts = await write_path.verdicts(settings, commands)
    except write_path.WritePathUnavailable as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"{exc}; nothing was written, try the dry run again"
        ) from None
    start = 0
    for number, event_type, line_commands in mapped:
        judged = verdicts[start : start + len(line_commands)]
        start += len(line_commands)
        steps[number] = service.dry_run_step(event_type, line_commands, judged, imported=imported)
    return schemas.DryRun(
        plan=[
            schemas.PlanLine(line=n, action=s.action, entity=s.entity, qbo_id=s.qbo_id, reason=s.reason)
            for n, s in sorted(steps.items())
        ]
    )


async def _mapped(
    session: AsyncSession, lines: Lines, steps: dict[int, service.PlanStep]
) -> tuple[list[tuple[int, str, list[ExportRequested]]], bool]:
    """(line, event type, the writes it maps to) of each line the mapper admits, and whether the
    company's lists are imported; the lines it refuses, and summarized-mode lines (their day's
    journal entry), get their step in ``steps``."""
    connection = None
    if lines.tenant is not None:
        connection = await repository.connection_for_tenant(session, tenant_id=lines.tenant)
    settings = SyncSettings()
    if connection is not None:
        settings = (await repository.load_settings(session, connection_id=connection.connection_id))[1]
    imported: bool | None = None
    mapped: list[tuple[int, str, list[ExportRequested]]] = []
    days: set[dt.date] = set()  # summarized days an earlier line of this run makes or changes
    for number, envelope, data in lines.valid:
        try:
            target = service.admit(
                envelope.type, data, tenant_id=lines.tenant, connection=connection, settings=settings
            )
            if imported is None:
                imported = await repository.reference_imported(session, realm_id=target.realm_id)
            if service.summarized(envelope.type, settings):
                # The day's JournalEntry is the bridge's own object: no QBO match to judge.
                steps[number] = await _planned_journal(
                    session, envelope, data, target, settings, imported=imported, days=days
                )
                continue
            reference = await repository.load_reference(
                session, realm_id=target.realm_id, names=service.names_in(data, settings)
            )
            commands = service.plan(
                envelope.type,
                data,
                target=target,
                settings=settings,
                reference=reference,
                source_event_id=envelope.id,
                event_time=envelope.time,
            )
            mapped.append((number, envelope.type, commands))
        except service.Excluded as skipped:
            steps[number] = service.refused(f"skipped by the settings: {skipped.reason}")
        except Rejection as rejection:
            steps[number] = service.refused(rejection.message)
    return mapped, bool(imported)


async def _planned_journal(
    session: AsyncSession,
    envelope: Envelope,
    data: Contract,
    target: Any,
    settings: SyncSettings,
    *,
    imported: bool,
    days: set[dt.date],
) -> service.PlanStep:
    """A summarized-mode line: its share of its day checked by the same rules as ingest, and the
    day's JournalEntry it would create or change."""
    names = service.names_in(data, settings)
    reference = await repository.load_reference(session, realm_id=target.realm_id, names=names)
    share = service.journal_share(
        envelope.type,
        data,
        target=target,
        settings=settings,
        reference=reference,
        source_event_id=envelope.id,
    )
    day: dt.date | None = getattr(data, "issue_date", None) if share is not None else None
    exists = day is not None and (
        day in days
        or bool(
            await repository.journal_days_present(session, connection_id=target.connection_id, days={day})
        )
    )
    if day is not None:
        days.add(day)
    return service.dry_run_journal_step(
        envelope.type, day, day_exists=exists, settings=settings, imported=imported
    )


@router.get("/v1/batches/{batch_id}", response_model=schemas.BatchOut)
async def get_batch(batch_id: str, caller: CallerDep, session: SessionDep) -> schemas.BatchOut:
    """A bulk batch's progress: pending, succeeded, failed, rejected, and whether it is done."""
    found = await batch_repository.batch_outcomes(session, batch_id=batch_id)
    if found is None or not caller.may_act_for(found[0]["tenant_id"]):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    batch, groups = found
    progress = service.batch_progress(
        total=batch["total"], rejected_lines=batch["rejected_lines"], groups=groups
    )
    return schemas.BatchOut(batch_id=batch_id, **progress)
