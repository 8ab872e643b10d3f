"""Work the auth service does on its own: refresh ahead of expiry, warn of the 5-year limit, re-encrypt.

Every replica runs the refresher; the row lock in ``tokens.access_token`` makes sure only one of
them refreshes a given connection.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.auth import repository, tokens
from services.auth.crypto import TokenCipher, TokenDecryptionError
from services.auth.deps import AuthDeps, build_deps
from services.auth.settings import AuthSettings
from shared.db import create_engine, create_sessionmaker
from shared.errors import BridgeError
from shared.http import Resources
from shared.worker import Worker

log = logging.getLogger(__name__)

BATCH = 100
UNDECRYPTABLE = (
    "the stored tokens cannot be decrypted by any key in QBB_TOKEN_ENCRYPTION_KEYS (a key was removed "
    "before `reencrypt-tokens` moved its rows); put the key back, or reconnect the company"
)


async def refresher(res: Resources, deps: AuthDeps) -> None:
    """Until cancelled: refresh tokens about to expire and warn about hard expiries, every interval."""

    async def step() -> bool:
        await refresh_due(res.sessionmaker, deps)
        await warn_hard_expiries(res.sessionmaker, deps)
        await _forget_old_states(res.sessionmaker, deps)
        return False

    interval = deps.settings.refresh_scan_interval_seconds
    await Worker(name="token refresher", step=step, poll_seconds=interval).run()


async def refresh_due(sessionmaker: async_sessionmaker[AsyncSession], deps: AuthDeps) -> int:
    """Refresh every active connection whose access token expires within the margin twice over.

    Each connection on its own: whatever goes wrong with one (a token no configured key decrypts,
    a bug) is logged and noted on it, and the others are still refreshed.
    """
    # Twice the margin: the background gets there before an on-demand caller has to wait.
    horizon = deps.now() + dt.timedelta(seconds=2 * deps.settings.refresh_margin_seconds)
    async with sessionmaker() as session:
        due = await repository.connections_due_for_refresh(
            session, before=horizon, client_id=deps.settings.intuit_client_id, limit=BATCH
        )
    for connection_id in due:
        try:
            await _refresh_one(sessionmaker, deps, connection_id)
        except TokenDecryptionError:
            await _note_failure(sessionmaker, connection_id, UNDECRYPTABLE)
        except BridgeError as exc:
            log.warning(
                "background refresh failed", extra={"connection_id": connection_id, "reason": exc.message}
            )
        except Exception as exc:  # noqa: BLE001 - one connection's bug must not stop the others' refresh
            # The type only: an exception's text may carry what it was handling.
            log.error(
                "background refresh failed unexpectedly",
                extra={"connection_id": connection_id, "error_type": type(exc).__name__},
            )
    return len(due)


async def _refresh_one(
    sessionmaker: async_sessionmaker[AsyncSession], deps: AuthDeps, connection_id: str
) -> None:
    async with sessionmaker() as session, session.begin():
        try:
            await tokens.access_token(session, deps, connection_id=connection_id, force=False)
        except (tokens.ConnectionNotUsable, tokens.ConnectionNotFound):
            # Caught inside the transaction: the "reauthorization required" status and
            # its event were written in it and must commit, not roll back.
            return
        # Readable again (a key was put back): the note of an earlier failure no longer holds.
        await repository.clear_status_reason(session, connection_id=connection_id, reason=UNDECRYPTABLE)


async def _note_failure(
    sessionmaker: async_sessionmaker[AsyncSession], connection_id: str, reason: str
) -> None:
    """Say why on the connection (``status_reason``, shown by GET); log once, not every round."""
    async with sessionmaker() as session, session.begin():
        noted = await repository.note_status_reason(session, connection_id=connection_id, reason=reason)
    if noted:
        log.error("background refresh failed", extra={"connection_id": connection_id, "reason": reason})


async def warn_hard_expiries(sessionmaker: async_sessionmaker[AsyncSession], deps: AuthDeps) -> None:
    """Log once per connection when its refresh token's absolute expiry comes into the warning window."""
    now = deps.now()
    async with sessionmaker() as session, session.begin():
        rows = await repository.hard_expiries_to_warn(
            session, before=now + dt.timedelta(days=deps.settings.hard_expiry_warning_days)
        )
        for row in rows:
            log.warning(
                "refresh token reaches its 5-year limit soon: the tenant must reconnect before then",
                extra={
                    "connection_id": row.id,
                    "tenant_id": row.tenant_id,
                    "realm_id": row.realm_id,
                    "hard_expires_at": row.refresh_hard_expires_at.isoformat(),
                },
            )
            await repository.mark_hard_expiry_warned(session, connection_id=row.id, now=now)


async def _forget_old_states(sessionmaker: async_sessionmaker[AsyncSession], deps: AuthDeps) -> None:
    async with sessionmaker() as session, session.begin():
        await repository.delete_states_expired_before(session, before=deps.now() - dt.timedelta(days=1))


async def reencrypt_tokens(settings: AuthSettings) -> None:
    """``python -m services.auth reencrypt-tokens``: every token under the first configured key.

    Exits with status 3 when some rows cannot be decrypted by any configured key (they are named
    in the log and left as they are).
    """
    deps = build_deps(settings)
    engine = create_engine(settings.database_url, application_name="qbb-auth-reencrypt", pool_size=1)
    try:
        done, failed = await reencrypt_all(create_sessionmaker(engine), deps)
    finally:
        await engine.dispose()
        await deps.aclose()
    log.info("tokens re-encrypted under the primary key", extra={"rows": done, "undecryptable": len(failed)})
    if failed:
        log.error("no configured key decrypts these connections' tokens", extra={"connection_ids": failed})
        raise SystemExit(3)


async def reencrypt_all(
    sessionmaker: async_sessionmaker[AsyncSession], deps: AuthDeps
) -> tuple[int, list[str]]:
    """Re-encrypt every token row not yet under the primary key; returns (done, undecryptable ids)."""
    done, failed = 0, list[str]()
    while True:
        async with sessionmaker() as session, session.begin():
            rows = await repository.token_rows_not_under(
                session, key_id=deps.cipher.primary_key_id, skip=failed, limit=BATCH
            )
            for row in rows:
                try:
                    values = _rotated(deps.cipher, row)
                except TokenDecryptionError:
                    failed.append(str(row.connection_id))
                    continue
                await repository.update_tokens(session, connection_id=row.connection_id, values=values)
                done += 1
        if len(rows) < BATCH:
            return done, failed


def _rotated(cipher: TokenCipher, row: Any) -> dict[str, Any]:
    previous = row.previous_refresh_token_ciphertext
    return {
        "access_token_ciphertext": cipher.rotate(row.access_token_ciphertext),
        "refresh_token_ciphertext": cipher.rotate(row.refresh_token_ciphertext),
        "previous_refresh_token_ciphertext": cipher.rotate(previous) if previous else None,
        "key_id": cipher.primary_key_id,
    }
