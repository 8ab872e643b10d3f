"""HTTP endpoints of the auth service (health, readiness and metrics come from the runtime).

Domain refusals are *returned* (not raised) where the transaction must still commit: a refresh
that found the grant dead records ``reauthorization_required`` and its event, then answers 409.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from sqlalchemy import Row

from services.auth import (
    events,
    flows,
    pages,
    platform_routes,
    repository,
    schemas,
    service,
    tokens,
    webhook_routes,
)
from services.auth.deps import AuthDeps
from services.auth.intuit import AccessTokenRejected, IntuitRefused, IntuitUnavailable
from services.auth.models import api_keys
from shared.apikeys import Caller, caller_dependency, new_key
from shared.http import SessionDep, require_admin, require_internal


def auth_deps(request: Request) -> AuthDeps:
    """The service's ``AuthDeps`` (built once by the runtime through ``make_deps``)."""
    deps: AuthDeps = request.app.state.deps
    return deps


DepsDep = Annotated[AuthDeps, Depends(auth_deps)]
CallerDep = Annotated[Caller, Depends(caller_dependency(api_keys))]

router = APIRouter()
# Admin and internal routes: served on QBB_PRIVATE_HTTP_PORT alone when it is set.
private_router = APIRouter()
public = APIRouter(tags=["connections"])
internal = APIRouter(tags=["internal"], dependencies=[Depends(require_internal)])
admin = APIRouter(tags=["api keys"], dependencies=[Depends(require_admin)])


def connection_out(deps: AuthDeps, connection: Row[Any], token_row: Row[Any] | None) -> schemas.ConnectionOut:
    hard = token_row.refresh_hard_expires_at if token_row else None
    return schemas.ConnectionOut(
        connection_id=connection.id,
        tenant_id=connection.tenant_id,
        realm_id=connection.realm_id,
        status=connection.status,
        blocked_reason=connection.blocked_reason,
        status_reason=connection.status_reason,
        company=connection.company,
        expected_currency=connection.expected_currency,
        connected_at=connection.connected_at,
        created_at=connection.created_at,
        updated_at=connection.updated_at,
        access_token_expires_at=token_row.access_expires_at if token_row else None,
        refresh_token_expires_at=token_row.refresh_expires_at if token_row else None,
        refresh_token_hard_expires_at=hard,
        hard_expiry_soon=service.hard_expiry_soon(
            hard, now=deps.now(), warning_days=deps.settings.hard_expiry_warning_days
        ),
        reconnect_url=_reconnect_url(deps, connection),
    )


def _reconnect_url(deps: AuthDeps, connection: Row[Any]) -> str | None:
    if connection.realm_id is None or connection.status == "revoked":
        return None
    return f"{deps.settings.public_base_url.rstrip('/')}/v1/intuit/reconnect?realmId={connection.realm_id}"


async def _owned_connection(
    session: SessionDep, caller: Caller, connection_id: str, *, lock: bool = False
) -> Row[Any]:
    connection = await repository.get_connection(session, connection_id=connection_id, for_update=lock)
    if connection is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    caller.require(connection.tenant_id)
    return connection


async def _out(session: SessionDep, deps: AuthDeps, connection_id: str) -> schemas.ConnectionOut:
    connection = await repository.get_connection(session, connection_id=connection_id)
    assert connection is not None
    token_row = await repository.get_tokens(session, connection_id=connection_id)
    return connection_out(deps, connection, token_row)


def _unavailable(exc: IntuitUnavailable | IntuitRefused | AccessTokenRejected) -> HTTPException:
    code = (
        status.HTTP_503_SERVICE_UNAVAILABLE
        if isinstance(exc, IntuitUnavailable)
        else status.HTTP_502_BAD_GATEWAY
    )
    return HTTPException(code, f"QuickBooks: {exc.message}", headers={"Retry-After": "5"})


@public.post("/v1/connections", status_code=status.HTTP_201_CREATED)
async def connect(
    body: schemas.ConnectRequest, caller: CallerDep, session: SessionDep, deps: DepsDep
) -> schemas.ConnectResponse:
    """Start connecting a tenant to QuickBooks → the URL to send the person's browser to."""
    caller.require(body.tenant_id)
    try:
        connection_id, url = await flows.start_connect(
            session,
            deps,
            tenant_id=body.tenant_id,
            redirect_after=body.redirect_after,
            expected_currency=body.expected_currency,
        )
    except IntuitUnavailable as exc:
        raise _unavailable(exc) from None
    return schemas.ConnectResponse(connection_id=connection_id, authorize_url=url)


@public.get("/v1/oauth/start", response_class=HTMLResponse, response_model=None)
async def oauth_start(request: Request, session: SessionDep, deps: DepsDep, state: str = "") -> Response:
    """The consent link handed out → this browser's cookie set, then on to Intuit (or a 400 page)."""
    try:
        bound = await flows.open_consent(session, deps, state=state, cookies=dict(request.cookies))
    except flows.CallbackRefused as refused:
        return pages.refused(refused.message, status_code=refused.status_code)
    except IntuitUnavailable as exc:
        raise _unavailable(exc) from None
    return _to_intuit(deps, bound)


def _to_intuit(deps: AuthDeps, bound: flows.BrowserBound) -> Response:
    answer = RedirectResponse(bound.intuit_url, status_code=status.HTTP_302_FOUND)
    answer.set_cookie(
        bound.cookie_name,
        bound.cookie_value,
        max_age=deps.settings.state_ttl_seconds,
        path="/v1/oauth",
        httponly=True,
        samesite="lax",  # sent on Intuit's top-level redirect back to the callback, not cross-site posts
        secure=deps.settings.public_base_url.startswith("https://"),
    )
    return answer


@public.get("/v1/oauth/callback", response_class=HTMLResponse)
async def oauth_callback(request: Request, session: SessionDep, deps: DepsDep) -> Response:
    """Intuit sends the browser back here → connect (or refuse with a page and a 400)."""
    try:
        done = await flows.complete_callback(
            session, deps, params=dict(request.query_params), cookies=dict(request.cookies)
        )
    except flows.CallbackRefused as refused:
        return pages.refused(refused.message, status_code=refused.status_code)
    if done.redirect_after:
        target = service.redirect_after_url(
            done.redirect_after, connection_id=done.connection_id, status=done.status
        )
        return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
    if done.blocked_reason:
        return pages.blocked(done.company_name, done.blocked_reason)
    return pages.connected(done.company_name)


@public.get("/v1/connections")
async def list_connections(
    caller: CallerDep, session: SessionDep, deps: DepsDep, tenant_id: str | None = None
) -> schemas.ConnectionList:
    """The caller's connections (admins: any tenant's, or all)."""
    if tenant_id is None and caller.platform_id is not None:
        rows = [
            r for t in sorted(caller.tenants) for r in await repository.list_connections(session, tenant_id=t)
        ]
        return schemas.ConnectionList(connections=[await _out(session, deps, row.id) for row in rows])
    if tenant_id is None and not caller.is_admin:
        tenant_id = caller.tenant_id
    if tenant_id is not None:
        caller.require(tenant_id)
    rows = await repository.list_connections(session, tenant_id=tenant_id)
    out = [await _out(session, deps, row.id) for row in rows]
    return schemas.ConnectionList(connections=out)


@public.get("/v1/connections/{connection_id}")
async def get_connection(
    connection_id: service.ConnectionId, caller: CallerDep, session: SessionDep, deps: DepsDep
) -> schemas.ConnectionOut:
    """One connection with its company profile; never a token."""
    await _owned_connection(session, caller, str(connection_id))
    return await _out(session, deps, str(connection_id))


@public.post("/v1/connections/{connection_id}/refresh-profile")
async def refresh_profile(
    connection_id: service.ConnectionId, caller: CallerDep, session: SessionDep, deps: DepsDep
) -> Response:
    """Re-read the company from QBO → the connection and what changed (``connection.profile_changed``)."""
    connection = await _owned_connection(session, caller, str(connection_id))
    try:
        changed = await flows.refresh_profile(session, deps, connection=connection)
    except tokens.ConnectionNotUsable as exc:
        return _not_usable(exc)
    except (IntuitUnavailable, IntuitRefused, AccessTokenRejected) as exc:
        raise _unavailable(exc) from None
    out = schemas.ProfileRefreshed(connection=await _out(session, deps, str(connection_id)), changed=changed)
    return JSONResponse(out.model_dump(mode="json"))


@public.delete("/v1/connections/{connection_id}", status_code=status.HTTP_204_NO_CONTENT)
async def disconnect(
    connection_id: service.ConnectionId, caller: CallerDep, session: SessionDep, deps: DepsDep
) -> None:
    """Revoke the grant at Intuit and mark the connection revoked (``connection.revoked``)."""
    connection = await _owned_connection(session, caller, str(connection_id))
    if connection.status == "revoked":
        return
    try:
        await flows.disconnect(session, deps, connection=connection, reason="disconnected through the API")
    except (IntuitUnavailable, IntuitRefused) as exc:
        raise _unavailable(exc) from None


@public.get("/v1/intuit/disconnect", response_class=HTMLResponse)
async def intuit_disconnect() -> HTMLResponse:
    """Intuit's Disconnect URL: the browser lands here after disconnecting the app in QuickBooks."""
    # A browser redirect proves nothing about who sent it; the grant's end shows up as
    # invalid_grant at the next refresh, which flags the connection.
    return pages.disconnected()


@public.get("/v1/intuit/reconnect", response_model=None)
async def intuit_reconnect(
    request: Request, session: SessionDep, deps: DepsDep, realmId: str = ""
) -> Response:
    """Intuit's Reconnect URL → a consent bound to this browser (the same answer for any realm)."""
    if not deps.reconnect_limiter.allow(request.client.host if request.client else "?", now=deps.now()):
        return pages.refused("Too many attempts; wait a minute and try again.", status_code=429)
    try:
        bound = await flows.reconnect(session, deps, realm_id=realmId)
    except IntuitUnavailable as exc:
        raise _unavailable(exc) from None
    return _to_intuit(deps, bound)


def _not_usable(exc: tokens.ConnectionNotUsable) -> JSONResponse:
    detail = f"connection is {exc.status}" + (f": {exc.reason}" if exc.reason else "")
    return JSONResponse({"detail": detail, "status": exc.status}, status_code=status.HTTP_409_CONFLICT)


@internal.get("/internal/v1/connections/{connection_id}/access-token")
async def access_token(
    connection_id: service.ConnectionId, session: SessionDep, deps: DepsDep, force_refresh: bool = False
) -> Response:
    """For qbo-bridge services → a valid access token (refreshed under a lock when close to expiry)."""
    try:
        token = await tokens.access_token(
            session, deps, connection_id=str(connection_id), force=force_refresh
        )
    except tokens.ConnectionNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such connection") from None
    except tokens.ConnectionNotUsable as exc:
        return _not_usable(exc)
    except (IntuitUnavailable, IntuitRefused) as exc:
        raise _unavailable(exc) from None
    out = schemas.AccessTokenOut(
        access_token=token.access_token,
        realm_id=token.realm_id,
        api_base=deps.settings.qbo_api_base,
        expires_at=token.expires_at,
    )
    return JSONResponse(out.model_dump(mode="json"), headers={"Cache-Control": "no-store"})


@admin.post("/v1/tenants/{tenant_id}/api-keys", status_code=status.HTTP_201_CREATED)
async def issue_api_key(tenant_id: str, session: SessionDep) -> schemas.ApiKeyOut:
    """Issue a tenant API key (admin) → the key, shown once; ``tenant.api_key_issued`` with its hash."""
    key_id, key, key_hash = new_key()
    await repository.insert_api_key(session, key_id=key_id, tenant_id=tenant_id, key_hash=key_hash)
    await events.api_key_issued(session, key_id=key_id, tenant_id=tenant_id, key_hash=key_hash)
    return schemas.ApiKeyOut(key_id=key_id, tenant_id=tenant_id, key=key)


@admin.delete("/v1/tenants/{tenant_id}/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_api_key(tenant_id: str, key_id: str, session: SessionDep) -> None:
    """Revoke a tenant API key (admin) → ``tenant.api_key_revoked``."""
    if not await repository.revoke_api_key(session, tenant_id=tenant_id, key_id=key_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such live key for this tenant")
    await events.api_key_revoked(session, key_id=key_id, tenant_id=tenant_id)


router.include_router(public)
router.include_router(webhook_routes.router)
private_router.include_router(internal)
private_router.include_router(admin)
private_router.include_router(platform_routes.router)
