"""After connecting: activation checks, reconnecting, profile refresh, disconnect."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import text

from tests.helpers.broker import bind_probe, broker_channel, envelopes
from tests.integration.auth.conftest import (
    ADMIN,
    Auth,
    access_token,
    company_info_status,
    connect,
    connected,
    consent,
    make_access_token_due,
    new_company,
    running_auth,
    tenant,
)

pytestmark = pytest.mark.integration


async def shown(auth: Auth, connection_id: str) -> dict[str, object]:
    response = await auth.http.get(f"/v1/connections/{connection_id}", headers=ADMIN)
    assert response.status_code == 200, response.text
    found: dict[str, object] = response.json()
    return found


async def test_a_currency_mismatch_blocks_and_reconnecting_after_the_fix_unblocks(
    auth: Auth, amqp_url: str
) -> None:
    realm_id = await new_company(auth, country="US")
    tenant_id = tenant()
    async with broker_channel(amqp_url) as (_, channel):
        probe = await bind_probe(channel, auth.settings.amqp_namespace, ["connection.#"])
        connection_id, answer = await connect(auth, tenant_id, realm_id, expected_currency="EUR")
        blocked = await shown(auth, connection_id)
        again, _ = await connect(auth, tenant_id, realm_id, expected_currency="USD")
        events = await envelopes(probe, count=1, timeout=10)

    assert answer.status_code == 200
    assert "not activated" in answer.text
    assert blocked["status"] == "blocked"
    assert "EUR" in str(blocked["blocked_reason"])
    assert "USD" in str(blocked["blocked_reason"])
    assert again == connection_id
    assert (await shown(auth, connection_id))["status"] == "active"
    assert [e.type for e in events] == ["connection.established"]


async def test_a_country_the_product_does_not_support_blocks(
    database_url: str, amqp_url: str, namespace: str, sandbox_url: str
) -> None:
    async with running_auth(
        database_url=database_url,
        amqp_url=amqp_url,
        namespace=namespace,
        sandbox_url=sandbox_url,
        supported_countries=("US",),
    ) as auth:
        realm_id = await new_company(auth, country="AU")
        connection_id, _ = await connect(auth, tenant(), realm_id)
        found = await shown(auth, connection_id)

    assert found["status"] == "blocked"
    assert "AU" in str(found["blocked_reason"])


async def test_reconnecting_to_the_same_company_reuses_the_connection(auth: Auth) -> None:
    tenant_id, realm_id, connection_id = await connected(auth)

    again, answer = await connect(auth, tenant_id, realm_id)

    assert answer.status_code == 200
    assert again == connection_id
    listed = (await auth.http.get("/v1/connections", params={"tenant_id": tenant_id}, headers=ADMIN)).json()
    assert [c["connection_id"] for c in listed["connections"]] == [connection_id]


async def test_connecting_another_company_is_refused_until_the_old_one_is_disconnected(auth: Auth) -> None:
    tenant_id, realm_id, connection_id = await connected(auth)
    other_realm = await new_company(auth)

    _, refused = await connect(auth, tenant_id, other_realm)
    still = await shown(auth, connection_id)
    assert (await auth.http.delete(f"/v1/connections/{connection_id}", headers=ADMIN)).status_code == 204
    new_connection, accepted = await connect(auth, tenant_id, other_realm)

    assert refused.status_code == 400
    assert "Disconnect it first" in refused.text
    assert (still["status"], still["realm_id"]) == ("active", realm_id)
    assert accepted.status_code == 200
    assert new_connection != connection_id
    assert (await shown(auth, new_connection))["realm_id"] == other_realm


async def test_refresh_profile_stores_and_announces_what_changed(auth: Auth, amqp_url: str) -> None:
    _, realm_id, connection_id = await connected(auth)
    changed = await auth.sandbox.post(
        f"/admin/companies/{realm_id}/act/Preferences",
        json={
            "operation": "update",
            "body": {
                "Id": "1",
                "SyncToken": "0",
                "sparse": True,
                "AccountingInfoPrefs": {"ClassTrackingPerTxn": True},
            },
        },
    )
    assert changed.status_code == 200, changed.text
    async with broker_channel(amqp_url) as (_, channel):
        probe = await bind_probe(channel, auth.settings.amqp_namespace, ["connection.profile_changed"])
        answer = await auth.http.post(f"/v1/connections/{connection_id}/refresh-profile", headers=ADMIN)
        unchanged = await auth.http.post(f"/v1/connections/{connection_id}/refresh-profile", headers=ADMIN)
        events = await envelopes(probe, count=2, timeout=5)

    assert answer.status_code == 200, answer.text
    assert answer.json()["changed"] == ["class_tracking"]
    assert answer.json()["connection"]["company"]["class_tracking"] == "per_transaction"
    assert unchanged.json()["changed"] == []
    assert len(events) == 1
    assert events[0].data["changed"] == ["class_tracking"]


async def test_disconnect_revokes_at_intuit_and_announces_it(auth: Auth, amqp_url: str) -> None:
    _, realm_id, connection_id = await connected(auth)
    old_access = (await access_token(auth, connection_id)).json()["access_token"]
    async with auth.engine.connect() as conn:
        sealed = (
            await conn.execute(
                text("SELECT refresh_token_ciphertext FROM auth.tokens WHERE connection_id = :c"),
                {"c": connection_id},
            )
        ).scalar_one()
    old_refresh = auth.cipher.decrypt(sealed)
    async with broker_channel(amqp_url) as (_, channel):
        probe = await bind_probe(channel, auth.settings.amqp_namespace, ["connection.revoked"])
        deleted = await auth.http.delete(f"/v1/connections/{connection_id}", headers=ADMIN)
        events = await envelopes(probe, count=1, timeout=10)

    refresh_again = await auth.sandbox.post(
        "/oauth2/v1/tokens/bearer",
        data={"grant_type": "refresh_token", "refresh_token": old_refresh},
        auth=(auth.app["client_id"], auth.app["client_secret"]),
    )
    assert deleted.status_code == 204
    assert (await shown(auth, connection_id))["status"] == "revoked"
    assert await company_info_status(auth, realm_id, old_access) == 401
    assert refresh_again.status_code == 400
    assert refresh_again.json()["error"] == "invalid_grant"
    assert (await access_token(auth, connection_id)).status_code == 409
    assert [e.data["connection_id"] for e in events] == [connection_id]


async def test_intuits_reconnect_url_brings_a_flagged_connection_back(auth: Auth) -> None:
    _, realm_id, connection_id = await connected(auth)
    await auth.sandbox.post("/admin/tokens/expire", json={"realm_id": realm_id, "kind": "refresh"})
    await make_access_token_due(auth.engine, connection_id)
    assert (await access_token(auth, connection_id)).status_code == 409
    flagged = await shown(auth, connection_id)

    start = await auth.http.get("/v1/intuit/reconnect", params={"realmId": realm_id})
    callback = await consent(start.headers["location"], realm_id=realm_id, browser=auth.http)
    answer = await auth.http.get(callback)

    assert flagged["status"] == "reauthorization_required"
    assert flagged["reconnect_url"] == f"{auth.url}/v1/intuit/reconnect?realmId={realm_id}"
    assert start.status_code == 302
    assert answer.status_code == 200
    assert (await shown(auth, connection_id))["status"] == "active"
    assert (await access_token(auth, connection_id)).status_code == 200


async def test_intuits_reconnect_url_answers_alike_for_any_company_and_is_rate_limited(auth: Auth) -> None:
    _, realm_id, _ = await connected(auth)
    async with (
        httpx.AsyncClient(base_url=auth.url, timeout=10) as known_browser,
        httpx.AsyncClient(base_url=auth.url, timeout=10) as unknown_browser,
    ):
        known = await known_browser.get("/v1/intuit/reconnect", params={"realmId": realm_id})
        unknown = await unknown_browser.get("/v1/intuit/reconnect", params={"realmId": "4620816365000000000"})
        callback = await consent(unknown.headers["location"], realm_id=realm_id, browser=unknown_browser)
        refused = await unknown_browser.get(callback)
        limit = auth.settings.reconnect_rate_limit_per_minute
        burst = [(await unknown_browser.get("/v1/intuit/reconnect")).status_code for _ in range(limit)]

    def shape(answer: httpx.Response) -> tuple[int, str, list[str]]:
        location = urlsplit(answer.headers["location"])
        return answer.status_code, location.path, sorted(parse_qs(location.query))

    assert shape(known) == shape(unknown)
    assert "set-cookie" in known.headers
    assert "set-cookie" in unknown.headers
    assert refused.status_code == 400
    assert 429 in burst


async def test_intuits_disconnect_url_shows_a_page(auth: Auth) -> None:
    answer = await auth.http.get("/v1/intuit/disconnect", params={"realmId": "123"})

    assert answer.status_code == 200
    assert "disconnected" in answer.text
