"""HTTP endpoints of the mapper service (health, readiness and metrics come from the runtime)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from services.mapper import announcements, models, readiness, repository, schemas, service
from services.mapper.reference import KINDS
from services.mapper.service import Connection
from services.mapper.sync_settings import SyncSettings
from shared.apikeys import Caller, caller_dependency
from shared.contracts import PLATFORM_EVENTS, InvalidMessage, Problem, decode_data, decode_envelope
from shared.contracts.envelope import Envelope
from shared.http import SessionDep

router = APIRouter(tags=["mapper"])
CallerDep = Annotated[Caller, Depends(caller_dependency(models.api_keys))]
CLOUDEVENT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/cloudevents+json": {"schema": {"type": "object"}},
            "application/json": {"schema": {"type": "object"}},
        },
        "description": "A structured CloudEvent whose type is a platform event (e.g. invoice.approved)",
    }
}


def _invalid(summary: str, problems: list[Problem]) -> JSONResponse:
    body = schemas.EventInvalid(
        detail=summary, problems=[schemas.ProblemOut(**p.as_dict()) for p in problems]
    )
    return JSONResponse(body.model_dump(), status_code=422)


def for_caller(envelope: Envelope, caller: Caller) -> Envelope:
    """The envelope as this caller may send it (tenant and platform from the key), or ``InvalidMessage``."""
    tenant = envelope.tenantid or caller.tenant_id
    if tenant is None:
        raise InvalidMessage("no tenant", [Problem("$.tenantid", "required when sending with the admin key")])
    if not caller.may_act_for(tenant):
        raise InvalidMessage("wrong tenant", [Problem("$.tenantid", "does not match the API key's tenant")])
    if envelope.type not in PLATFORM_EVENTS:
        raise InvalidMessage(
            "not a platform event", [Problem("$.type", f"must be one of {', '.join(PLATFORM_EVENTS)}")]
        )
    # ``platformid`` decides where the outcomes go, so it comes from the key, never from the body.
    return envelope.model_copy(update={"tenantid": tenant, "platformid": caller.platform_id})


@router.post(
    "/v1/events",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=schemas.EventAccepted,
    responses={422: {"model": schemas.EventInvalid}},
    openapi_extra=CLOUDEVENT_BODY,
)
async def post_event(request: Request, caller: CallerDep, session: SessionDep) -> Any:
    """A platform event over HTTP → queued like one from the broker (202), or 422 naming every problem."""
    try:
        envelope = for_caller(decode_envelope(await request.body()), caller)
        decode_data(envelope)
    except InvalidMessage as exc:
        return _invalid(exc.summary, exc.problems)
    staged = await repository.stage_platform_event(session, envelope=envelope)
    return schemas.EventAccepted(event_id=envelope.id, status="accepted" if staged else "duplicate")


async def _connection(session: AsyncSession, connection_id: str, caller: Caller) -> Connection:
    found = await repository.connection_by_id(session, connection_id=connection_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    caller.require(found.tenant_id)
    return found


@router.get("/v1/connections/{connection_id}/settings", response_model=schemas.SettingsOut)
async def get_settings(connection_id: str, caller: CallerDep, session: SessionDep) -> schemas.SettingsOut:
    """The connection's sync settings and their version (defaults at version 0)."""
    await _connection(session, connection_id, caller)
    version, settings = await repository.load_settings(session, connection_id=connection_id)
    return schemas.SettingsOut(connection_id=connection_id, version=version, settings=settings)


@router.put(
    "/v1/connections/{connection_id}/settings",
    response_model=schemas.SettingsOut,
    responses={409: {"description": "If-Match names a version that is no longer current"}},
)
async def put_settings(
    connection_id: str,
    body: SyncSettings,
    caller: CallerDep,
    session: SessionDep,
    if_match: Annotated[str | None, Header(description="The version this change is based on")] = None,
) -> schemas.SettingsOut:
    """New settings → validated (422 naming each bad field) and stored as the next version."""
    connection = await _connection(session, connection_id, caller)
    expected = _version(if_match)
    try:
        version = await repository.save_settings(
            session,
            connection_id=connection_id,
            tenant_id=connection.tenant_id,
            settings=body,
            expected_version=expected,
            changed_by=caller.name,
        )
    except repository.VersionConflict as exc:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"settings changed meanwhile (now version {exc.current}); read them again",
        ) from None
    await announcements.announce(
        session,
        tenant_id=connection.tenant_id,
        settings=service.read_path_settings(connection_id, version, body),
    )
    return schemas.SettingsOut(connection_id=connection_id, version=version, settings=body)


def _version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    try:
        return int(if_match.strip().strip('"').removeprefix("W/").strip('"'))
    except ValueError:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, "If-Match must be a settings version number"
        ) from None


@router.get("/v1/connections/{connection_id}/settings/history", response_model=list[schemas.SettingsVersion])
async def get_settings_history(connection_id: str, caller: CallerDep, session: SessionDep) -> Any:
    """Every saved version of the settings, newest first."""
    await _connection(session, connection_id, caller)
    return await repository.settings_history(session, connection_id=connection_id)


@router.get("/v1/connections/{connection_id}/readiness", response_model=schemas.ReadinessOut)
async def get_readiness(connection_id: str, caller: CallerDep, session: SessionDep) -> schemas.ReadinessOut:
    """Each readiness check with its status, what is wrong and how to fix it."""
    connection = await _connection(session, connection_id, caller)
    if connection.company is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT, "the company profile is not known yet; refresh the connection"
        )
    _, settings = await repository.load_settings(session, connection_id=connection_id)
    inputs = readiness.Inputs(
        company=connection.company,
        settings=settings,
        reference=await repository.load_full_reference(
            session,
            realm_id=connection.realm_id,
            customers={settings.posting.master_customer} if settings.posting.master_customer else None,
        ),
        used=await repository.used_values(session, connection_id=connection_id, settings=settings),
        connection_status=connection.status,
        imported=await repository.reference_imported(session, realm_id=connection.realm_id),
    )
    checks = readiness.report(inputs)
    return schemas.ReadinessOut(
        connection_id=connection_id,
        status=readiness.overall(checks),
        checks=[schemas.CheckOut(name=c.name, status=c.status, message=c.message, fix=c.fix) for c in checks],
    )


@router.get("/v1/connections/{connection_id}/reference/{kind}", response_model=schemas.ReferenceOut)
async def get_reference(
    connection_id: str,
    kind: str,
    caller: CallerDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> schemas.ReferenceOut:
    """The mirrored QBO list of ``kind`` (accounts, tax-codes, tax-rates, terms, payment-methods, ...)."""
    connection = await _connection(session, connection_id, caller)
    entity = KINDS.get(kind)
    if entity is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown kind '{kind}'; one of: {', '.join(KINDS)}")
    rows = await repository.list_reference(
        session, realm_id=connection.realm_id, entity=entity, limit=limit, offset=offset
    )
    return schemas.ReferenceOut(
        connection_id=connection_id,
        kind=kind,
        entity=entity,
        items=[schemas.ReferenceItem(**r) for r in rows],
    )


@router.get("/v1/connections/{connection_id}/events", response_model=schemas.PlatformEventsOut)
async def get_events(
    connection_id: str,
    caller: CallerDep,
    session: SessionDep,
    outcome: Annotated[str | None, Query(pattern="^(mapped|rejected|skipped|waiting)$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> schemas.PlatformEventsOut:
    """The connection's platform events, newest first: mapped, rejected (why), skipped, waiting (why)."""
    connection = await _connection(session, connection_id, caller)
    rows = await repository.list_events(
        session,
        connection_id=connection_id,
        tenant_id=connection.tenant_id,
        outcome=outcome,
        limit=limit,
        before=before,
    )
    events = [schemas.PlatformEventOut(**r) for r in rows]
    next_before = events[-1].seq if len(events) == limit else None
    return schemas.PlatformEventsOut(connection_id=connection_id, events=events, next_before=next_before)
