"""Handing out access tokens: refresh when close to expiry, at most one refresh per connection.

The lock is the ``tokens`` row (``SELECT … FOR UPDATE``): it serialises refreshes across every
replica. A caller that waited on it sees the row its predecessor committed and uses that token
instead of refreshing again. The new refresh token is saved in the same statement as the new
access token, and the one it replaced is kept for Intuit's grace period.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Awaitable, Collection
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter, Histogram
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth import events, repository, service
from services.auth.deps import AuthDeps
from services.auth.intuit import InvalidGrant

log = logging.getLogger(__name__)

TOKEN_REFRESHES = Counter(
    "qbb_auth_token_refreshes_total",
    "Refreshes of a connection's access token, by outcome (refreshed, refused: invalid_grant, failed)",
    ["outcome"],
)
TOKEN_REFRESH_SECONDS = Histogram(
    "qbb_auth_token_refresh_seconds", "Time of one refresh call to Intuit (both tokens tried)"
)
for _outcome in ("refreshed", "refused", "failed"):
    TOKEN_REFRESHES.labels(_outcome)  # every outcome is served from the start, at 0


class ConnectionNotFound(Exception):
    """No connection with that id."""


class ConnectionNotUsable(Exception):
    """The connection exists but cannot hand out tokens (not active, or reauthorization needed)."""

    def __init__(self, status: str, reason: str | None) -> None:
        super().__init__(f"connection is {status}")
        self.status, self.reason = status, reason


@dataclass(frozen=True, slots=True)
class AccessToken:
    access_token: str
    realm_id: str
    expires_at: dt.datetime


def token_values(deps: AuthDeps, tokens: service.TokenSet, *, previous_refresh: str | None) -> dict[str, Any]:
    """The ``tokens`` row for a token set, encrypted under the primary key."""
    cipher = deps.cipher
    return {
        "access_token_ciphertext": cipher.encrypt(tokens.access_token),
        "refresh_token_ciphertext": cipher.encrypt(tokens.refresh_token),
        "previous_refresh_token_ciphertext": cipher.encrypt(previous_refresh) if previous_refresh else None,
        "access_expires_at": tokens.access_expires_at,
        "refresh_expires_at": tokens.refresh_expires_at,
        "refresh_hard_expires_at": tokens.refresh_hard_expires_at,
        "key_id": cipher.primary_key_id,
        "client_id": deps.settings.intuit_client_id,
        "refreshed_at": deps.now(),
    }


async def access_token(
    session: AsyncSession,
    deps: AuthDeps,
    *,
    connection_id: str,
    usable: Collection[str] = ("active",),
    force: bool = False,
) -> AccessToken:
    """A valid access token of the connection, refreshed under the row lock when close to expiry."""
    connection = await _usable_connection(session, connection_id=connection_id, usable=usable)
    row = await repository.get_tokens(session, connection_id=connection_id)
    if row is None:
        raise ConnectionNotUsable(connection.status, "no tokens stored; reconnect")
    if not force and not _due(deps, row):
        return _decrypted(deps, row, realm_id=connection.realm_id)
    locked = await repository.get_tokens(session, connection_id=connection_id, for_update=True)
    # Re-read under the lock: another replica may have refreshed, or lost the grant, meanwhile.
    connection = await _usable_connection(session, connection_id=connection_id, usable=usable)
    if locked is None:
        raise ConnectionNotUsable(connection.status, "no tokens stored; reconnect")
    if _due(deps, locked) or (force and locked.refreshed_at <= row.refreshed_at):
        return await _refresh(session, deps, connection=connection, row=locked)
    return _decrypted(deps, locked, realm_id=connection.realm_id)


async def _usable_connection(
    session: AsyncSession, *, connection_id: str, usable: Collection[str]
) -> Row[Any]:
    connection = await repository.get_connection(session, connection_id=connection_id)
    if connection is None:
        raise ConnectionNotFound(connection_id)
    if connection.status not in usable:
        raise ConnectionNotUsable(connection.status, connection.status_reason or connection.blocked_reason)
    return connection


def _due(deps: AuthDeps, row: Row[Any]) -> bool:
    return service.needs_refresh(
        row.access_expires_at, now=deps.now(), margin_seconds=deps.settings.refresh_margin_seconds
    )


def _decrypted(deps: AuthDeps, row: Row[Any], *, realm_id: str) -> AccessToken:
    return AccessToken(
        access_token=deps.cipher.decrypt(row.access_token_ciphertext),
        realm_id=realm_id,
        expires_at=row.access_expires_at,
    )


async def _refresh(
    session: AsyncSession, deps: AuthDeps, *, connection: Row[Any], row: Row[Any]
) -> AccessToken:
    current = deps.cipher.decrypt(row.refresh_token_ciphertext)
    previous = (
        deps.cipher.decrypt(row.previous_refresh_token_ciphertext)
        if row.previous_refresh_token_ciphertext
        else None
    )
    now = deps.now()
    try:
        body = await _counted(_refresh_call(deps, current=current, previous=previous))
    except InvalidGrant:
        reason = "Intuit no longer accepts the refresh token (expired, revoked or disconnected); reconnect"
        await mark_reauthorization_required(session, connection=connection, reason=reason)
        raise ConnectionNotUsable("reauthorization_required", reason) from None
    tokens = service.token_set(body, now=now)
    kept = current if tokens.refresh_token != current else previous
    values = token_values(deps, tokens, previous_refresh=kept)
    if tokens.refresh_hard_expires_at is None:
        del values["refresh_hard_expires_at"]  # Intuit did not say this time; keep what it said before
    await repository.save_tokens(session, connection_id=connection.id, values=values)
    log.info(
        "access token refreshed", extra={"connection_id": connection.id, "realm_id": connection.realm_id}
    )
    return AccessToken(
        access_token=tokens.access_token, realm_id=connection.realm_id, expires_at=tokens.access_expires_at
    )


async def _counted(call: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """``call``'s answer, counted by outcome and timed (the on-call's "are refreshes failing?")."""
    started = time.perf_counter()
    try:
        body = await call
    except InvalidGrant:
        TOKEN_REFRESHES.labels("refused").inc()
        raise
    except Exception:
        TOKEN_REFRESHES.labels("failed").inc()
        raise
    finally:
        TOKEN_REFRESH_SECONDS.observe(time.perf_counter() - started)
    TOKEN_REFRESHES.labels("refreshed").inc()
    return body


async def _refresh_call(deps: AuthDeps, *, current: str, previous: str | None) -> dict[str, Any]:
    try:
        return await deps.intuit.refresh(current)
    except InvalidGrant:
        if not previous or previous == current:
            raise
        # The current token may come from an answer Intuit never finished giving; the one before
        # it stays valid for Intuit's grace period.
        log.warning("refresh token refused; retrying with the previous one")
        return await deps.intuit.refresh(previous)


async def mark_reauthorization_required(session: AsyncSession, *, connection: Row[Any], reason: str) -> None:
    """The tokens are dead: forget them, flag the connection and tell the other services."""
    await repository.delete_tokens(session, connection_id=connection.id)
    await repository.update_connection(
        session, connection_id=connection.id, status="reauthorization_required", status_reason=reason
    )
    await events.reauthorization_required(session, connection=connection, reason=reason)
    log.warning(
        "connection needs reauthorization",
        extra={"connection_id": connection.id, "realm_id": connection.realm_id},
    )
