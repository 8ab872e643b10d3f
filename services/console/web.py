"""The console's plumbing: its state, the session cookie, CSRF checks and page rendering."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from services.console.backend import Backend
from services.console.sessions import ConsoleSession, SessionStore
from services.console.settings import ConsoleSettings

COOKIE = "qbb_console"
PRE_COOKIE = "qbb_console_signin"
HERE = Path(__file__).parent


@dataclass
class Console:
    """What every route needs, built once by ``create_app``."""

    settings: ConsoleSettings
    backend: Backend
    sessions: SessionStore
    templates: Jinja2Templates


def console_of(request: Request) -> Console:
    found: Console = request.app.state.console
    return found


ConsoleDep = Annotated[Console, Depends(console_of)]


class SignInRequired(Exception):
    """No live session: the browser goes to the sign-in page."""


class OperatorOnly(Exception):
    """An operator page or action asked for with a key that is not the admin key."""


class BadCsrf(Exception):
    """A form without this session's token (another site, or a stale page)."""


def current_session(request: Request, console: ConsoleDep) -> ConsoleSession:
    session = console.sessions.get(request.cookies.get(COOKIE))
    if session is None:
        raise SignInRequired
    return session


SessionDep = Annotated[ConsoleSession, Depends(current_session)]


def check_csrf(session: ConsoleSession, form: Any) -> None:
    """Every form carries the session's token; a mismatch changes nothing."""
    sent = str(form.get("csrf", ""))
    if not secrets.compare_digest(sent.encode(), session.csrf.encode()):
        raise BadCsrf


def is_https(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=is_https(request),
        path="/",
    )


def page(
    request: Request,
    console: Console,
    name: str,
    session: ConsoleSession | None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A template with the session's identity, CSRF token and notices (shown once)."""
    notices = list(session.notices) if session else []
    if session:
        session.notices.clear()
    return console.templates.TemplateResponse(
        request,
        name,
        {"session": session, "csrf": session.csrf if session else "", "notices": notices, **context},
        status_code=status_code,
    )


def back_to(url: str, session: ConsoleSession, tone: str, message: str) -> RedirectResponse:
    """After a form: a notice for the next page, and the browser sent there (POST → redirect → GET)."""
    session.notices.append((tone, message))
    return RedirectResponse(url, status_code=303)


def not_found(request: Request, console: Console, session: ConsoleSession) -> HTMLResponse:
    return page(
        request,
        console,
        "error.html",
        session,
        status_code=404,
        title="Not found",
        message="There is nothing here that this key may see.",
    )


def detail_of(answer: Any) -> str:
    """The message a service's error answer carries."""
    try:
        body = answer.json()
    except ValueError:
        return f"HTTP {answer.status_code}"
    detail = body.get("detail") if isinstance(body, dict) else None
    return str(detail) if detail else f"HTTP {answer.status_code}"
