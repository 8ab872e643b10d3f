"""The connection lifecycle: connect, OAuth callback, profile refresh, disconnect.

Each function runs inside the caller's transaction (the HTTP request's) and never commits.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth import events, profile, repository, service, tokens
from services.auth.deps import AuthDeps
from services.auth.intuit import IntuitRefused, IntuitUnavailable, InvalidGrant
from shared.contracts.internal import CompanyProfile

log = logging.getLogger(__name__)


class CallbackRefused(Exception):
    """The callback cannot connect anything; ``message`` is for the person in the browser."""

    def __init__(self, message: str, *, status_code: int = 400) -> None:
        super().__init__(message)
        self.message, self.status_code = message, status_code


@dataclass(frozen=True, slots=True)
class Connected:
    connection_id: str
    status: str
    company_name: str
    blocked_reason: str | None
    redirect_after: str | None


async def start_connect(
    session: AsyncSession,
    deps: AuthDeps,
    *,
    tenant_id: str,
    redirect_after: str | None,
    expected_currency: str | None,
) -> tuple[str, str]:
    """The tenant's connection (reused while live) and a fresh authorization URL for it."""
    await repository.insert_pending_connection(
        session,
        connection_id=str(uuid.uuid4()),
        tenant_id=tenant_id,
        expected_currency=expected_currency,
        redirect_after=redirect_after,
    )
    connection = await repository.live_connection(session, tenant_id=tenant_id)
    assert connection is not None  # inserted above, or already there
    changes = {"redirect_after": redirect_after} | (
        {"expected_currency": expected_currency} if expected_currency else {}
    )
    await repository.update_connection(session, connection_id=connection.id, **changes)
    return connection.id, await new_authorize_url(session, deps, connection_id=connection.id)


@dataclass(frozen=True, slots=True)
class BrowserBound:
    """Where to send the browser, and the cookie that binds the consent to it."""

    intuit_url: str
    cookie_name: str
    cookie_value: str


async def new_authorize_url(session: AsyncSession, deps: AuthDeps, *, connection_id: str) -> str:
    """Store a single-use state for the connection → the bridge link that hands it to one browser.

    The link (auth's ``/v1/oauth/start``) sets the browser's cookie, then sends it on to Intuit.
    """
    state = service.new_state()
    expires_at = deps.now() + dt.timedelta(seconds=deps.settings.state_ttl_seconds)
    await repository.insert_state(
        session, state_hash=service.hash_state(state), connection_id=connection_id, expires_at=expires_at
    )
    return f"{deps.settings.public_base_url.rstrip('/')}/v1/oauth/start?{urlencode({'state': state})}"


async def intuit_url(deps: AuthDeps, *, state: str) -> str:
    """Intuit's authorization URL around ``state``."""
    endpoint = (await deps.intuit.discovery()).authorization_endpoint
    settings = deps.settings
    return service.authorize_url(
        endpoint,
        client_id=settings.intuit_client_id,
        redirect_uri=settings.redirect_uri,
        scope=settings.intuit_scope,
        state=state,
    )


async def open_consent(
    session: AsyncSession, deps: AuthDeps, *, state: str, cookies: dict[str, str]
) -> BrowserBound:
    """The bridge link opened: bind the state to this browser (the first one only) → Intuit."""
    state_hash = service.hash_state(state)
    stored = await repository.get_state(session, state_hash=state_hash)
    problem = service.state_problem(_stored(stored), now=deps.now())
    if problem or stored is None:
        raise CallbackRefused(problem or "unknown state")
    name = service.browser_cookie_name(state)
    secret = cookies.get(name, "")
    if stored.browser_hash is None:
        secret = service.new_state()
        await repository.bind_browser(session, state_hash=state_hash, browser_hash=service.hash_state(secret))
    elif not service.browser_matches(stored.browser_hash, secret):
        raise CallbackRefused(
            "This sign-in link was already opened in another browser. Start connecting again."
        )
    return BrowserBound(await intuit_url(deps, state=state), name, secret)


async def reconnect(session: AsyncSession, deps: AuthDeps, *, realm_id: str) -> BrowserBound:
    """Intuit's Reconnect URL: a consent bound to this browser for the realm's connection.

    A realm with no (or no single) live connection gets the same answer with a state that is
    stored nowhere, which the callback refuses: the answer tells nothing about other companies.
    """
    found = await repository.live_connections_for_realm(session, realm_id=realm_id) if realm_id else []
    state, secret = service.new_state(), service.new_state()
    if len(found) == 1:
        expires_at = deps.now() + dt.timedelta(seconds=deps.settings.state_ttl_seconds)
        await repository.insert_state(
            session,
            state_hash=service.hash_state(state),
            connection_id=found[0].id,
            expires_at=expires_at,
            browser_hash=service.hash_state(secret),
        )
    return BrowserBound(await intuit_url(deps, state=state), service.browser_cookie_name(state), secret)


def _stored(stored: Row[Any] | None) -> service.StoredState | None:
    return service.StoredState(stored.connection_id, stored.expires_at, stored.used_at) if stored else None


async def complete_callback(
    session: AsyncSession, deps: AuthDeps, *, params: dict[str, str], cookies: dict[str, str]
) -> Connected:
    """Check the state and the browser's cookie, exchange the code, read the company, activate or
    block; or refuse (nothing stored)."""
    if params.get("error"):
        raise CallbackRefused(service.callback_error_message(params["error"]))
    state = params.get("state", "")
    state_hash = service.hash_state(state)
    stored = await repository.get_state(session, state_hash=state_hash)
    problem = service.state_problem(_stored(stored), now=deps.now())
    if problem or stored is None:
        raise CallbackRefused(problem or "unknown state")
    if not service.browser_matches(stored.browser_hash, cookies.get(service.browser_cookie_name(state))):
        raise CallbackRefused(
            "This sign-in was started in another browser (or its cookie was blocked). "
            "Open the connect link from your platform again in this browser."
        )
    code, realm_id = params.get("code", ""), params.get("realmId", "")
    if not code or not realm_id:
        raise CallbackRefused("QuickBooks sent the browser back without a code or company; start again.")
    connection = await repository.get_connection(session, connection_id=stored.connection_id, for_update=True)
    if connection is None or connection.status == "revoked":
        raise CallbackRefused("This connection was disconnected meanwhile; start connecting again.")
    if connection.realm_id is not None and connection.realm_id != realm_id:
        raise CallbackRefused(
            "This account is already connected to another QuickBooks company. Disconnect it first, "
            "then connect the new company."
        )
    await repository.mark_state_used(session, state_hash=state_hash, now=deps.now())
    return await _connect(session, deps, connection=connection, code=code, realm_id=realm_id)


async def _connect(
    session: AsyncSession, deps: AuthDeps, *, connection: Row[Any], code: str, realm_id: str
) -> Connected:
    now = deps.now()
    try:
        token_set = service.token_set(await deps.intuit.exchange_code(code), now=now)
        info, prefs, currencies = await deps.intuit.read_company(
            realm_id=realm_id, access_token=token_set.access_token
        )
    except InvalidGrant:
        raise CallbackRefused(
            "QuickBooks no longer accepts this sign-in (it expired); start again."
        ) from None
    except (IntuitUnavailable, IntuitRefused) as exc:
        log.warning("callback could not finish", extra={"reason": exc.message, "realm_id": realm_id})
        raise CallbackRefused(
            "QuickBooks did not answer properly; please try again.", status_code=502
        ) from None
    await repository.save_tokens(
        session,
        connection_id=connection.id,
        values=tokens.token_values(deps, token_set, previous_refresh=None),
    )
    company = profile.company_profile(info, prefs, currencies)
    status, _ = await _apply_profile(session, deps, connection=connection, realm_id=realm_id, company=company)
    await repository.update_connection(session, connection_id=connection.id, connected_at=now)
    log.info(
        "connection connected", extra={"connection_id": connection.id, "realm_id": realm_id, "status": status}
    )
    return Connected(
        connection_id=connection.id,
        status=status,
        company_name=company.name,
        blocked_reason=profile.activation_problem(
            company,
            expected_currency=connection.expected_currency,
            supported_countries=deps.settings.supported_countries,
        ),
        redirect_after=connection.redirect_after,
    )


async def _apply_profile(
    session: AsyncSession, deps: AuthDeps, *, connection: Row[Any], realm_id: str, company: CompanyProfile
) -> tuple[str, list[str]]:
    """Store the profile, activate or block, and stage the event that says so.

    Returns the new status and the profile fields that changed.
    """
    problem = profile.activation_problem(
        company,
        expected_currency=connection.expected_currency,
        supported_countries=deps.settings.supported_countries,
    )
    status = "blocked" if problem else "active"
    changed = profile.profile_changes(connection.company, company)
    await repository.update_connection(
        session,
        connection_id=connection.id,
        realm_id=realm_id,
        company=company.model_dump(mode="json"),
        status=status,
        blocked_reason=problem,
        status_reason=None,
    )
    if status == "active" and connection.status != "active":
        await events.established(session, connection=connection, realm_id=realm_id, profile=company)
    elif status == "active" and changed:
        await events.profile_changed(session, connection=connection, profile=company, changed=changed)
    elif problem and connection.status == "active":
        # Other services must stop using it until a person fixes the company and reconnects.
        await events.reauthorization_required(session, connection=connection, reason=problem)
    return status, changed


async def refresh_profile(session: AsyncSession, deps: AuthDeps, *, connection: Row[Any]) -> list[str]:
    """Re-read the company; store and announce what changed; returns the changed fields."""
    token = await tokens.access_token(
        session, deps, connection_id=connection.id, usable=("active", "blocked")
    )
    info, prefs, currencies = await deps.intuit.read_company(
        realm_id=connection.realm_id, access_token=token.access_token
    )
    company = profile.company_profile(info, prefs, currencies)
    _, changed = await _apply_profile(
        session, deps, connection=connection, realm_id=connection.realm_id, company=company
    )
    return changed


async def disconnect(session: AsyncSession, deps: AuthDeps, *, connection: Row[Any], reason: str) -> None:
    """Revoke the grant at Intuit, forget the tokens, mark the connection revoked and say so."""
    row = await repository.get_tokens(session, connection_id=connection.id, for_update=True)
    current = await repository.get_connection(session, connection_id=connection.id)
    if current is None or current.status == "revoked":
        return  # a concurrent disconnect finished first
    if row is not None:
        await deps.intuit.revoke(deps.cipher.decrypt(row.refresh_token_ciphertext))
        await repository.delete_tokens(session, connection_id=connection.id)
    await repository.update_connection(
        session, connection_id=connection.id, status="revoked", status_reason=reason
    )
    await events.revoked(session, connection=connection, reason=reason)
    log.info("connection revoked", extra={"connection_id": connection.id, "realm_id": connection.realm_id})
