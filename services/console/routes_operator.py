"""The operator's pages (admin key only): platforms, tenants and their keys, dead-letter queues."""

from __future__ import annotations

from typing import Any, get_args

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.console import service
from services.console.backend import Service, Unavailable
from services.console.sessions import ConsoleSession
from services.console.web import (
    ConsoleDep,
    OperatorOnly,
    SessionDep,
    back_to,
    check_csrf,
    detail_of,
    page,
)

router = APIRouter(prefix="/operator")
SERVICES: tuple[Service, ...] = get_args(Service)


def _operator(session: ConsoleSession) -> ConsoleSession:
    """Every operator page and action: anything but the admin key gets the refusal page."""
    if not session.is_admin:
        raise OperatorOnly
    return session


@router.get("/platforms", response_class=HTMLResponse)
async def platforms(request: Request, console: ConsoleDep, session: SessionDep) -> Response:
    """The registered platforms with their tenants."""
    _operator(session)
    found = await console.backend.json("auth", "/v1/platforms", key=session.key) or []
    views = [service.platform_view(p) for p in found]
    return page(request, console, "operator_platforms.html", session, area="platforms", platforms=views)


@router.get("/tenants", response_class=HTMLResponse)
async def tenants(request: Request, console: ConsoleDep, session: SessionDep) -> Response:
    """Every tenant: who owns it, its connections and live keys."""
    _operator(session)
    found = await console.backend.json("auth", "/v1/tenants", key=session.key) or []
    return page(request, console, "operator_tenants.html", session, area="tenants", tenants=found)


async def _tenant_page(
    request: Request,
    console: Any,
    session: ConsoleSession,
    tenant_id: str,
    *,
    issued: str = "",
    issued_id: str = "",
) -> Response:
    if not service.is_tenant_id(tenant_id):
        return back_to("/operator/tenants", session, "bad", "That is not a tenant id.")
    path = f"/v1/tenants/{tenant_id}/api-keys"
    keys = await console.backend.json("auth", path, key=session.key) or []
    return page(
        request,
        console,
        "operator_tenant.html",
        session,
        area="tenants",
        tenant_id=tenant_id,
        keys=[service.key_view(k) for k in keys],
        issued=issued,
        issued_id=issued_id,
    )


@router.get("/tenants/{tenant_id}", response_class=HTMLResponse)
async def tenant(request: Request, tenant_id: str, console: ConsoleDep, session: SessionDep) -> Response:
    """One tenant's API keys (ids and dates), with Issue and Revoke."""
    _operator(session)
    return await _tenant_page(request, console, session, tenant_id)


@router.post("/tenants/{tenant_id}/keys", response_class=HTMLResponse)
async def issue_key(request: Request, tenant_id: str, console: ConsoleDep, session: SessionDep) -> Response:
    """Issue a key → auth makes it; this answer shows it once (never stored here, never in a URL)."""
    _operator(session)
    check_csrf(session, await request.form())
    if not service.is_tenant_id(tenant_id):
        return back_to("/operator/tenants", session, "bad", "That is not a tenant id.")
    answer = await console.backend.call("auth", "POST", f"/v1/tenants/{tenant_id}/api-keys", key=session.key)
    if answer.status_code != 201:
        return back_to(f"/operator/tenants/{tenant_id}", session, "bad", f"Not issued: {detail_of(answer)}")
    made = answer.json()
    return await _tenant_page(
        request, console, session, tenant_id, issued=str(made["key"]), issued_id=str(made["key_id"])
    )


@router.post("/tenants/{tenant_id}/keys/{key_id}/revoke")
async def revoke_key(
    request: Request, tenant_id: str, key_id: str, console: ConsoleDep, session: SessionDep
) -> Response:
    """Revoke → auth revokes the key; every service stops taking it once it hears."""
    _operator(session)
    check_csrf(session, await request.form())
    back = f"/operator/tenants/{tenant_id}"
    path = f"/v1/tenants/{tenant_id}/api-keys/{key_id}"
    answer = await console.backend.call("auth", "DELETE", path, key=session.key)
    if answer.status_code != 204:
        return back_to(back, session, "bad", f"Not revoked: {detail_of(answer)}")
    return back_to(back, session, "ok", f"Key {key_id} revoked.")


@router.get("/dead-letters", response_class=HTMLResponse)
async def dead_letters(request: Request, console: ConsoleDep, session: SessionDep) -> Response:
    """Each service's dead-letter queues: every message with its reason, and Replay."""
    _operator(session)
    sections: list[service.DeadLetterSection] = []
    for name in SERVICES:
        try:
            answer = await console.backend.call(name, "GET", "/v1/dead-letters", key=session.key)
        except Unavailable as exc:  # one service down must not hide the others' dead letters
            sections.append(service.dead_letter_section(name, None, problem=str(exc)))
            continue
        body = answer.json() if answer.status_code == 200 else None
        sections.append(service.dead_letter_section(name, body, problem=detail_of(answer)))
    return page(
        request, console, "operator_dead_letters.html", session, area="dead-letters", sections=sections
    )


@router.post("/dead-letters/{name}/{queue}/{message_id}/replay")
async def replay(
    request: Request, name: str, queue: str, message_id: str, console: ConsoleDep, session: SessionDep
) -> Response:
    """Replay → the service sends the message back to its queue (via its outbox), off the DLQ."""
    _operator(session)
    check_csrf(session, await request.form())
    back = "/operator/dead-letters"
    if name not in SERVICES:
        return back_to(back, session, "bad", "No such service.")
    path = f"/v1/dead-letters/{queue}/messages/{message_id}/replay"
    answer = await console.backend.call(name, "POST", path, key=session.key)
    if answer.status_code != 200:
        return back_to(back, session, "bad", f"Not replayed: {detail_of(answer)}")
    return back_to(back, session, "ok", f"Message {message_id} sent back to {queue}.")
