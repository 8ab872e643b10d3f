"""The rules of the auth service: pure functions, no I/O."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit

Status = Literal["pending", "active", "blocked", "reauthorization_required", "revoked"]
LIVE_STATUSES: tuple[Status, ...] = ("pending", "active", "blocked", "reauthorization_required")


# ---------------------------------------------------------------- state


def new_state() -> str:
    """A fresh OAuth ``state``: 256 random bits, url-safe."""
    return secrets.token_urlsafe(32)


def hash_state(state: str) -> str:
    """The stored form of a state (a stolen table row cannot be replayed as a callback)."""
    return hashlib.sha256(state.encode()).hexdigest()


BROWSER_COOKIE_PREFIX = "qbb_oauth_"


def browser_cookie_name(state: str) -> str:
    """The cookie that binds one consent to the browser that opened its link (one per state, so
    two consents in one browser do not overwrite each other)."""
    return BROWSER_COOKIE_PREFIX + hash_state(state)[:16]


def browser_matches(browser_hash: str | None, cookie: str | None) -> bool:
    """Whether the callback comes from the browser the consent link was opened in."""
    if not browser_hash or not cookie:
        return False
    return secrets.compare_digest(browser_hash, hash_state(cookie))


@dataclass(frozen=True, slots=True)
class StoredState:
    connection_id: str
    expires_at: dt.datetime
    used_at: dt.datetime | None


def state_problem(stored: StoredState | None, *, now: dt.datetime) -> str | None:
    """Why a callback's state must be refused, in words; None when it is good."""
    if stored is None:
        return "This sign-in link is unknown or was altered. Start connecting again from your platform."
    if stored.used_at is not None:
        return "This sign-in link was already used. Start connecting again from your platform."
    if stored.expires_at <= now:
        return "This sign-in link expired (they last 10 minutes). Start connecting again from your platform."
    return None


def callback_error_message(error: str) -> str:
    """What to tell the person when Intuit sends the browser back with ``error``."""
    if error == "access_denied":
        return "You cancelled the connection to QuickBooks; nothing was connected."
    return f"QuickBooks did not authorize the connection ({error}); nothing was connected."


def authorize_url(endpoint: str, *, client_id: str, redirect_uri: str, scope: str, state: str) -> str:
    """Intuit's authorization URL for one connect attempt."""
    query = urlencode(
        {
            "client_id": client_id,
            "response_type": "code",
            "scope": scope,
            "redirect_uri": redirect_uri,
            "state": state,
        }
    )
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"


def valid_redirect_after(url: str) -> bool:
    """Only absolute http(s) URLs: anything else could run script in the person's browser."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def redirect_after_url(base: str, *, connection_id: str, status: str) -> str:
    """Where the browser goes after the callback, carrying the outcome."""
    query = urlencode({"connection_id": connection_id, "status": status})
    return f"{base}{'&' if '?' in base else '?'}{query}"


# ---------------------------------------------------------------- tokens


@dataclass(frozen=True, slots=True)
class TokenSet:
    access_token: str
    refresh_token: str
    access_expires_at: dt.datetime
    refresh_expires_at: dt.datetime | None
    refresh_hard_expires_at: dt.datetime | None


def token_set(body: dict[str, Any], *, now: dt.datetime) -> TokenSet:
    """The tokens and their expiry instants from a token-endpoint answer (ValueError if malformed)."""
    access, refresh = body.get("access_token"), body.get("refresh_token")
    if not isinstance(access, str) or not access or not isinstance(refresh, str) or not refresh:
        raise ValueError("token answer without access_token or refresh_token")
    return TokenSet(
        access_token=access,
        refresh_token=refresh,
        access_expires_at=now + dt.timedelta(seconds=_seconds(body.get("expires_in"), default=3600)),
        refresh_expires_at=_after(now, body.get("x_refresh_token_expires_in")),
        refresh_hard_expires_at=_after(now, body.get("x_refresh_token_hard_expires_in")),
    )


def _seconds(value: Any, *, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _after(now: dt.datetime, seconds: Any) -> dt.datetime | None:
    # Intuit's JS client reads an absent or zero hard expiry as "not told"; so do we.
    parsed = _seconds(seconds, default=0)
    return now + dt.timedelta(seconds=parsed) if parsed > 0 else None


def needs_refresh(access_expires_at: dt.datetime, *, now: dt.datetime, margin_seconds: int) -> bool:
    """True when the access token expires within the margin (or already has)."""
    return access_expires_at - dt.timedelta(seconds=margin_seconds) <= now


def hard_expiry_soon(
    refresh_hard_expires_at: dt.datetime | None, *, now: dt.datetime, warning_days: int
) -> bool:
    """True when the 5-year absolute refresh-token expiry is within the warning window."""
    if refresh_hard_expires_at is None:
        return False
    return refresh_hard_expires_at - dt.timedelta(days=warning_days) <= now


def is_invalid_grant(status_code: int, body: dict[str, Any]) -> bool:
    """Intuit's way of saying the refresh token is dead (expired, revoked or rotated away)."""
    return status_code in (400, 401) and body.get("error") == "invalid_grant"


ConnectionId = uuid.UUID
"""Connection ids are UUIDs; a malformed one is refused before it reaches a query."""
