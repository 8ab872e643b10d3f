"""The small HTML pages a person's browser sees around the OAuth redirects."""

from __future__ import annotations

import html

from fastapi.responses import HTMLResponse


def page(title: str, message: str, *, status_code: int = 200) -> HTMLResponse:
    """A plain page with a title and one paragraph (both escaped)."""
    body = (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p></body></html>"
    )
    return HTMLResponse(body, status_code=status_code)


def refused(message: str, *, status_code: int = 400) -> HTMLResponse:
    return page("QuickBooks was not connected", message, status_code=status_code)


def connected(company_name: str) -> HTMLResponse:
    return page(
        "QuickBooks connected",
        f"Your QuickBooks company {company_name} is connected. You can close this page.",
    )


def blocked(company_name: str, reason: str) -> HTMLResponse:
    return page("QuickBooks connected, but not activated", f"{company_name}: {reason}")


def disconnected() -> HTMLResponse:
    return page(
        "QuickBooks disconnected",
        "qbo-bridge no longer has access to your QuickBooks company. "
        "To sync again, reconnect from your platform.",
    )
