"""Access tokens for the other services: refresh on demand and in the background, dead grants, at rest."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any

import pytest
from cryptography.fernet import Fernet
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from services.auth.background import refresh_due
from services.auth.crypto import TokenCipher
from services.auth.deps import build_deps
from shared.db import create_sessionmaker
from tests.helpers.broker import bind_probe, broker_channel, envelopes
from tests.integration.auth.conftest import (
    ADMIN,
    INTERNAL,
    Auth,
    access_token,
    company_info_status,
    connected,
    make_access_token_due,
    running_auth,
    token_calls,
)

pytestmark = pytest.mark.integration
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


async def token_row(auth: Auth, connection_id: str) -> dict[str, Any]:
    async with auth.engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT * FROM auth.tokens WHERE connection_id = :c"), {"c": connection_id}
            )
        ).one()
    return dict(row._mapping)


async def refreshes(auth: Auth) -> dict[str, float]:
    """auth's token-refresh counter by outcome, read from its /metrics as the on-call would."""
    page = (await auth.http.get("/metrics")).text
    return {
        sample.labels["outcome"]: sample.value
        for family in text_string_to_metric_families(page)
        if family.name == "qbb_auth_token_refreshes"
        for sample in family.samples
        if sample.name == "qbb_auth_token_refreshes_total"
    }


async def test_a_fresh_token_is_handed_out_without_calling_intuit(auth: Auth) -> None:
    _, realm_id, connection_id = await connected(auth)
    calls_before = len(await token_calls(auth, realm_id))

    first, second = await access_token(auth, connection_id), await access_token(auth, connection_id)

    assert first.status_code == 200
    body = first.json()
    assert (body["realm_id"], body["api_base"]) == (realm_id, auth.settings.qbo_api_base)
    assert second.json()["access_token"] == body["access_token"]
    assert len(await token_calls(auth, realm_id)) == calls_before
    assert await company_info_status(auth, realm_id, body["access_token"]) == 200


async def test_an_expired_token_is_refreshed_on_demand_and_works(auth: Auth) -> None:
    _, realm_id, connection_id = await connected(auth)
    old = (await access_token(auth, connection_id)).json()["access_token"]
    await auth.sandbox.post("/admin/tokens/expire", json={"realm_id": realm_id, "kind": "access"})
    await make_access_token_due(auth.engine, connection_id)
    calls_before, counted_before = len(await token_calls(auth, realm_id)), await refreshes(auth)

    fresh = (await access_token(auth, connection_id)).json()["access_token"]

    assert fresh != old
    assert await company_info_status(auth, realm_id, old) == 401
    assert await company_info_status(auth, realm_id, fresh) == 200
    assert len(await token_calls(auth, realm_id)) == calls_before + 1
    counted = await refreshes(auth)
    assert counted["refreshed"] == counted_before["refreshed"] + 1
    assert counted["refused"] == counted_before["refused"]


async def test_the_internal_endpoint_needs_the_internal_token(auth: Auth) -> None:
    _, _, connection_id = await connected(auth)
    path = f"/internal/v1/connections/{connection_id}/access-token"

    assert (await auth.http.get(path)).status_code == 401
    assert (await auth.http.get(path, headers=ADMIN)).status_code == 403
    assert (await auth.http.get(path, headers=INTERNAL)).status_code == 200
    unknown = "00000000-0000-4000-8000-000000000000"
    assert (
        await auth.http.get(f"/internal/v1/connections/{unknown}/access-token", headers=INTERNAL)
    ).status_code == 404


async def test_an_expired_refresh_token_flags_reauthorization_and_announces_it(
    auth: Auth, amqp_url: str
) -> None:
    tenant_id, realm_id, connection_id = await connected(auth)
    await auth.sandbox.post("/admin/tokens/expire", json={"realm_id": realm_id, "kind": "refresh"})
    await make_access_token_due(auth.engine, connection_id)
    async with broker_channel(amqp_url) as (_, channel):
        probe = await bind_probe(
            channel, auth.settings.amqp_namespace, ["connection.reauthorization_required"]
        )
        counted_before = await refreshes(auth)
        answer = await access_token(auth, connection_id)
        again = await access_token(auth, connection_id)
        events = await envelopes(probe, count=2, timeout=5)

    assert answer.status_code == 409
    assert answer.json()["status"] == "reauthorization_required"
    assert again.status_code == 409
    shown = (await auth.http.get(f"/v1/connections/{connection_id}", headers=ADMIN)).json()
    assert shown["status"] == "reauthorization_required"
    assert len(events) == 1
    assert (events[0].data["connection_id"], events[0].tenantid) == (connection_id, tenant_id)
    counted = await refreshes(auth)
    assert counted["refused"] == counted_before["refused"] + 1
    assert counted["refreshed"] == counted_before["refreshed"]


async def test_a_refresh_whose_answer_was_lost_is_recovered_within_intuits_grace(auth: Auth) -> None:
    _, realm_id, connection_id = await connected(auth)
    stored_refresh = auth.cipher.decrypt((await token_row(auth, connection_id))["refresh_token_ciphertext"])
    settings = (await auth.sandbox.get("/admin/tokens/settings")).json()
    await auth.sandbox.put("/admin/tokens/settings", json={"rotation_seconds": 0})
    try:
        # Our refresh reached Intuit and rotated the token, but its answer never came back.
        lost = await auth.sandbox.post(
            "/oauth2/v1/tokens/bearer",
            data={"grant_type": "refresh_token", "refresh_token": stored_refresh},
            auth=(auth.app["client_id"], auth.app["client_secret"]),
        )
        await make_access_token_due(auth.engine, connection_id)
        recovered = await access_token(auth, connection_id)
    finally:
        await auth.sandbox.put(
            "/admin/tokens/settings", json={"rotation_seconds": settings["rotation_seconds"]}
        )

    assert lost.json()["refresh_token"] != stored_refresh
    assert recovered.status_code == 200, recovered.text
    assert await company_info_status(auth, realm_id, recovered.json()["access_token"]) == 200
    row = await token_row(auth, connection_id)
    assert auth.cipher.decrypt(row["previous_refresh_token_ciphertext"]) == stored_refresh


async def test_the_background_refreshes_before_expiry_without_any_caller(
    database_url: str, amqp_url: str, namespace: str, sandbox_url: str
) -> None:
    async with running_auth(
        database_url=database_url,
        amqp_url=amqp_url,
        namespace=namespace,
        sandbox_url=sandbox_url,
        refresh_scan_interval_seconds=0.2,
    ) as auth:
        _, _, connection_id = await connected(auth)
        before = await token_row(auth, connection_id)
        await make_access_token_due(auth.engine, connection_id)
        async with asyncio.timeout(10):
            while (row := await token_row(auth, connection_id))["refreshed_at"] == before["refreshed_at"]:
                await asyncio.sleep(0.1)

    assert row["access_token_ciphertext"] != before["access_token_ciphertext"]
    assert row["access_expires_at"] > before["access_expires_at"]


async def test_the_hard_expiry_is_tracked_and_flagged_ahead_of_time(auth: Auth) -> None:
    _, _, connection_id = await connected(auth)
    first = (await auth.http.get(f"/v1/connections/{connection_id}", headers=ADMIN)).json()
    async with auth.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE auth.tokens SET refresh_hard_expires_at = now() + interval '3 days' "
                "WHERE connection_id = :c"
            ),
            {"c": connection_id},
        )
    soon = (await auth.http.get(f"/v1/connections/{connection_id}", headers=ADMIN)).json()

    assert first["refresh_token_hard_expires_at"] is not None
    assert first["hard_expiry_soon"] is False
    assert soon["hard_expiry_soon"] is True


async def test_the_token_table_holds_no_token_in_clear(auth: Auth) -> None:
    _, _, connection_id = await connected(auth)
    token = (await access_token(auth, connection_id)).json()["access_token"]
    values: list[str] = []
    async with auth.engine.connect() as conn:
        for table in ("tokens", "connections", "oauth_states", "outbox_messages"):
            rows = (await conn.execute(text(f"SELECT * FROM auth.{table}"))).all()
            values += [str(v) for row in rows for v in row]
    dump = " ".join(values)
    refresh = auth.cipher.decrypt((await token_row(auth, connection_id))["refresh_token_ciphertext"])

    assert token not in dump
    assert token[-40:] not in dump
    assert refresh.startswith("RT1-")
    assert refresh not in dump
    assert "RT1-" not in dump


async def test_reencrypt_command_moves_every_token_to_the_first_key(auth: Auth, database_url: str) -> None:
    _, _, connection_id = await connected(auth)
    old_key = auth.settings.token_encryption_keys.get_secret_value()
    new_key = Fernet.generate_key().decode()
    before = await token_row(auth, connection_id)

    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "services.auth", "reencrypt-tokens"],
        cwd=ROOT,
        env={
            **os.environ,
            "QBB_DATABASE_URL": database_url,
            "QBB_ENVIRONMENT": "test",
            "QBB_TOKEN_ENCRYPTION_KEYS": f"{new_key},{old_key}",
        },
        capture_output=True,
        timeout=60,
    )

    # Other tests' rows, under their own keys, are reported undecryptable (status 3) and left alone.
    assert done.returncode in (0, 3), done.stderr.decode()
    after = await token_row(auth, connection_id)
    new_only = TokenCipher((new_key,))
    assert after["key_id"] == new_only.primary_key_id != before["key_id"]
    assert new_only.decrypt(after["refresh_token_ciphertext"]) == auth.cipher.decrypt(
        before["refresh_token_ciphertext"]
    )
    assert new_only.decrypt(after["access_token_ciphertext"]) == auth.cipher.decrypt(
        before["access_token_ciphertext"]
    )


async def test_force_refresh_replaces_a_token_qbo_rejected_once(auth: Auth) -> None:
    _, realm_id, connection_id = await connected(auth)
    old = (await access_token(auth, connection_id)).json()["access_token"]
    await auth.sandbox.post("/admin/tokens/expire", json={"realm_id": realm_id, "kind": "access"})
    calls_before = len(await token_calls(auth, realm_id))

    still_old = (await access_token(auth, connection_id)).json()["access_token"]
    forced = (await access_token(auth, connection_id, force_refresh="true")).json()["access_token"]

    assert still_old == old
    assert forced != old
    assert await company_info_status(auth, realm_id, forced) == 200
    assert len(await token_calls(auth, realm_id)) == calls_before + 1


async def test_the_background_refresh_flags_reauthorization_and_announces_it(
    auth: Auth, amqp_url: str
) -> None:
    _, realm_id, connection_id = await connected(auth)
    await auth.sandbox.post("/admin/tokens/expire", json={"realm_id": realm_id, "kind": "refresh"})
    await make_access_token_due(auth.engine, connection_id)
    async with broker_channel(amqp_url) as (_, channel):
        probe = await bind_probe(
            channel, auth.settings.amqp_namespace, ["connection.reauthorization_required"]
        )
        deps = build_deps(auth.settings)
        try:
            await refresh_due(create_sessionmaker(auth.engine), deps)
        finally:
            await deps.aclose()
        events = await envelopes(probe, count=1, timeout=5)

    shown = (await auth.http.get(f"/v1/connections/{connection_id}", headers=ADMIN)).json()
    assert shown["status"] == "reauthorization_required"
    assert [e.data["connection_id"] for e in events] == [connection_id]
