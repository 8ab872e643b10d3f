"""One connection whose tokens no configured key decrypts never stops the background refresh of the others."""

from __future__ import annotations

import logging

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from services.auth.background import UNDECRYPTABLE, refresh_due
from services.auth.deps import build_deps
from shared.db import create_sessionmaker
from tests.integration.auth.conftest import ADMIN, Auth, connected, make_access_token_due, token_calls

pytestmark = pytest.mark.integration


async def _encrypt_under_a_foreign_key(auth: Auth, connection_id: str) -> str:
    """The row as if written under a key since removed from QBB_TOKEN_ENCRYPTION_KEYS; due first."""
    foreign = Fernet(Fernet.generate_key())
    ciphertext = foreign.encrypt(b"RT1-refresh-token-of-a-removed-key").decode()
    async with auth.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE auth.tokens SET access_token_ciphertext = :c, refresh_token_ciphertext = :c, "
                "access_expires_at = now() - interval '1 hour' WHERE connection_id = :id"
            ),
            {"c": ciphertext, "id": connection_id},
        )
    return ciphertext


async def _refreshed_at(auth: Auth, connection_id: str) -> object:
    async with auth.engine.connect() as conn:
        return (
            await conn.execute(
                text("SELECT refreshed_at FROM auth.tokens WHERE connection_id = :c"), {"c": connection_id}
            )
        ).scalar_one()


async def test_an_undecryptable_row_is_noted_and_the_other_connections_are_still_refreshed(
    auth: Auth, caplog: pytest.LogCaptureFixture
) -> None:
    _, _, bad = await connected(auth)
    _, good_realm, good = await connected(auth)
    ciphertext = await _encrypt_under_a_foreign_key(auth, bad)  # expired an hour ago: refreshed first
    await make_access_token_due(auth.engine, good)
    calls_before = len(await token_calls(auth, good_realm))
    good_before = await _refreshed_at(auth, good)

    deps = build_deps(auth.settings)
    try:
        with caplog.at_level(logging.INFO):
            # The next round meets the bad row again: noted once, nothing raised.
            rounds = [await refresh_due(create_sessionmaker(auth.engine), deps) for _ in range(2)]
    finally:
        await deps.aclose()

    assert rounds[0] >= 2
    assert len(await token_calls(auth, good_realm)) > calls_before  # the sandbox saw its refresh
    assert await _refreshed_at(auth, good) != good_before
    shown = (await auth.http.get(f"/v1/connections/{bad}", headers=ADMIN)).json()
    assert (shown["status"], shown["status_reason"]) == ("active", UNDECRYPTABLE)
    fine = (await auth.http.get(f"/v1/connections/{good}", headers=ADMIN)).json()
    assert (fine["status"], fine["status_reason"]) == ("active", None)
    noted = [r for r in caplog.records if getattr(r, "connection_id", None) == bad]
    assert [r.getMessage() for r in noted] == ["background refresh failed"]
    assert all(ciphertext not in str(r.__dict__) for r in caplog.records)
