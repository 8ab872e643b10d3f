"""The console's pages: sign-in, connections, readiness, settings, history and imports."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.console import service
from services.console.web import (
    COOKIE,
    PRE_COOKIE,
    Console,
    ConsoleDep,
    SessionDep,
    back_to,
    check_csrf,
    detail_of,
    not_found,
    page,
    set_cookie,
)

router = APIRouter()


@router.get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    """Liveness → ok."""
    return {"status": "ok"}


@router.get("/readyz", include_in_schema=False)
async def readyz() -> dict[str, str]:
    """Readiness → ok (the console holds nothing it must reach before serving)."""
    return {"status": "ok"}


@router.get("/", include_in_schema=False)
async def home() -> RedirectResponse:
    """The start page → the connections."""
    return RedirectResponse("/connections", status_code=303)


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_form(request: Request, console: ConsoleDep) -> Response:
    """The sign-in form, with a one-off token against sign-in forgery."""
    token = request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(32)
    response = page(request, console, "sign_in.html", None, signin_token=token, error="")
    set_cookie(request, response, PRE_COOKIE, token, max_age=1800)
    return response


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in(request: Request, console: ConsoleDep) -> Response:
    """A key → a server-side session (the key stays here) and the connections page; or the form again."""
    form = await request.form()
    token, key = str(form.get("signin_token", "")), str(form.get("key", "")).strip()
    if not token or token != request.cookies.get(PRE_COOKIE):
        return _sign_in_again(request, console, "The page was stale; please sign in again.", 400)
    connections = await console.backend.connections(key) if key else None
    if connections is None:
        return _sign_in_again(request, console, "That key is unknown or revoked.", 401)
    session = console.sessions.create(
        key=key,
        is_admin=await console.backend.is_admin(key),
        tenants=tuple(sorted({str(c["tenant_id"]) for c in connections})),
    )
    response = RedirectResponse("/connections", status_code=303)
    set_cookie(request, response, COOKIE, session.session_id, max_age=console.settings.session_ttl_seconds)
    response.delete_cookie(PRE_COOKIE, path="/")
    return response


def _sign_in_again(request: Request, console: Console, error: str, status_code: int) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = page(
        request, console, "sign_in.html", None, signin_token=token, error=error, status_code=status_code
    )
    set_cookie(request, response, PRE_COOKIE, token, max_age=1800)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, console: ConsoleDep, session: SessionDep) -> RedirectResponse:
    """End the session (the key is forgotten) → the sign-in page."""
    check_csrf(session, await request.form())
    console.sessions.drop(session.session_id)
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/connections", response_class=HTMLResponse)
async def connections(request: Request, console: ConsoleDep, session: SessionDep) -> Response:
    """Every connection this key may see, and the Connect form."""
    found = await console.backend.connections(session.key) or []
    views = [service.connection_view(c) for c in found]
    return page(request, console, "connections.html", session, connections=views, tenants=session.tenants)


@router.post("/connections")
async def connect(request: Request, console: ConsoleDep, session: SessionDep) -> Response:
    """Connect → auth starts the OAuth handshake; the browser goes to Intuit's consent page."""
    form = await request.form()
    check_csrf(session, form)
    body: dict[str, Any] = {
        "tenant_id": str(form.get("tenant_id", "")).strip(),
        "redirect_after": str(request.url_for("connected")),
    }
    if currency := str(form.get("expected_currency", "")).strip().upper():
        body["expected_currency"] = currency
    answer = await console.backend.call("auth", "POST", "/v1/connections", key=session.key, json=body)
    if answer.status_code != 201:
        return back_to("/connections", session, "bad", f"Could not connect: {detail_of(answer)}")
    return RedirectResponse(answer.json()["authorize_url"], status_code=303)


@router.get("/connected", response_class=HTMLResponse)
async def connected(
    request: Request, console: ConsoleDep, connection_id: str = "", status: str = ""
) -> Response:
    """Intuit's consent done (auth sends the browser back here) → on to that connection's page."""
    # Not a session route: the browser arrives from Intuit, a cross-site chain on which a
    # SameSite=Strict cookie is not sent. This page's own link (a same-site navigation) carries it.
    safe = connection_id if connection_id.replace("-", "").isalnum() else ""
    target = f"/connections/{safe}" if safe else "/connections"
    return page(request, console, "connected.html", None, target=target, status=service.words(status))


async def _connection(console: Console, key: str, connection_id: str) -> service.ConnectionView | None:
    body = await console.backend.json("auth", f"/v1/connections/{connection_id}", key=key)
    return service.connection_view(body) if body else None


@router.get("/connections/{connection_id}", response_class=HTMLResponse)
async def connection(
    request: Request, connection_id: str, console: ConsoleDep, session: SessionDep
) -> Response:
    """One connection: status, company profile, what is wrong, and its actions."""
    view = await _connection(console, session.key, connection_id)
    if view is None:
        return not_found(request, console, session)
    return page(request, console, "connection.html", session, c=view, tab="overview")


@router.post("/connections/{connection_id}/refresh-profile")
async def refresh_profile(
    request: Request, connection_id: str, console: ConsoleDep, session: SessionDep
) -> Response:
    """Refresh profile → auth re-reads the company from QuickBooks; what changed as a notice."""
    check_csrf(session, await request.form())
    path = f"/v1/connections/{connection_id}/refresh-profile"
    answer = await console.backend.call("auth", "POST", path, key=session.key)
    back = f"/connections/{connection_id}"
    if answer.status_code != 200:
        return back_to(back, session, "bad", f"Refresh failed: {detail_of(answer)}")
    changed = answer.json().get("changed") or []
    said = f"changed: {', '.join(map(service.words, changed))}" if changed else "nothing changed"
    return back_to(back, session, "ok", f"Company profile refreshed ({said}).")


@router.post("/connections/{connection_id}/disconnect")
async def disconnect(
    request: Request, connection_id: str, console: ConsoleDep, session: SessionDep
) -> Response:
    """Disconnect → auth revokes the grant at Intuit; the connection is revoked."""
    check_csrf(session, await request.form())
    answer = await console.backend.call("auth", "DELETE", f"/v1/connections/{connection_id}", key=session.key)
    back = f"/connections/{connection_id}"
    if answer.status_code != 204:
        return back_to(back, session, "bad", f"Disconnect failed: {detail_of(answer)}")
    return back_to(back, session, "ok", "Disconnected from QuickBooks.")


@router.get("/connections/{connection_id}/readiness", response_class=HTMLResponse)
async def readiness(
    request: Request, connection_id: str, console: ConsoleDep, session: SessionDep
) -> Response:
    """The readiness report: each check's status, what is wrong and how to fix it."""
    view = await _connection(console, session.key, connection_id)
    if view is None:
        return not_found(request, console, session)
    path = f"/v1/connections/{connection_id}/readiness"
    answer = await console.backend.call("mapper", "GET", path, key=session.key)
    overall, problem = "unknown", ""
    checks: list[service.CheckView] = []
    if answer.status_code == 200:
        overall, checks = service.readiness_view(answer.json())
    else:
        problem = detail_of(answer)
    return page(
        request,
        console,
        "readiness.html",
        session,
        c=view,
        tab="readiness",
        overall=overall,
        overall_tone=service.tone(overall),
        checks=checks,
        problem=problem,
    )
