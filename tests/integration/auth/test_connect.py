"""Connecting a QBO company through the browser flow, and what the callback refuses."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import text

from tests.helpers.broker import bind_probe, broker_channel, envelopes
from tests.integration.auth.conftest import (
    ADMIN,
    Auth,
    access_token,
    connect,
    consent,
    new_company,
    start_connect,
    tenant,
)

pytestmark = pytest.mark.integration


async def stored(auth: Auth, connection_id: str) -> dict[str, Any]:
    """The connection's status and whether tokens or used states exist for it."""
    async with auth.engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT c.status, c.realm_id, "
                    "(SELECT count(*) FROM auth.tokens t WHERE t.connection_id = c.id) AS tokens, "
                    "(SELECT count(*) FROM auth.oauth_states s WHERE s.connection_id = c.id "
                    " AND s.used_at IS NOT NULL) AS used_states "
                    "FROM auth.connections c WHERE c.id = :c"
                ),
                {"c": connection_id},
            )
        ).one()
    return dict(row._mapping)


async def test_browser_flow_connects_and_shows_the_company_profile(auth: Auth, amqp_url: str) -> None:
    realm_id = await new_company(auth, country="GB", class_tracking="per_line", track_departments=True)
    tenant_id = tenant()
    async with broker_channel(amqp_url) as (_, channel):
        probe = await bind_probe(channel, auth.settings.amqp_namespace, ["connection.#"])
        connection_id, answer = await connect(auth, tenant_id, realm_id, expected_currency="GBP")
        events = await envelopes(probe, count=1, timeout=10)

    assert answer.status_code == 200
    assert "connected" in answer.text
    shown = (await auth.http.get(f"/v1/connections/{connection_id}", headers=ADMIN)).json()
    assert (shown["status"], shown["realm_id"], shown["tenant_id"]) == ("active", realm_id, tenant_id)
    company = shown["company"]
    assert company["country"] == "GB"
    assert company["home_currency"] == "GBP"
    assert company["edition"] == "QuickBooks Online Plus"
    assert company["class_tracking"] == "per_line"
    assert (company["department_tracking"], company["department_label"]) == (True, "Location")
    assert company["tax_mode"] == "vat_gst"
    token = (await access_token(auth, connection_id)).json()["access_token"]
    assert token not in answer.text + str(shown) + str(events)
    assert [e.type for e in events] == ["connection.established"]
    assert events[0].data["connection_id"] == connection_id
    assert events[0].data["company"]["home_currency"] == "GBP"


async def test_callback_redirects_to_redirect_after_with_the_outcome(auth: Auth) -> None:
    realm_id = await new_company(auth)
    started = await start_connect(auth, tenant(), redirect_after="https://platform.example/qbo?x=1")
    callback = await consent(started["authorize_url"], realm_id=realm_id, browser=auth.http)

    answer = await auth.http.get(callback)

    assert answer.status_code == 303
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert query == {"x": ["1"], "connection_id": [started["connection_id"]], "status": ["active"]}


async def test_cancel_on_the_consent_page_gets_a_400_page_and_stores_nothing(auth: Auth) -> None:
    realm_id = await new_company(auth)
    started = await start_connect(auth, tenant())
    callback = await consent(started["authorize_url"], realm_id=realm_id, browser=auth.http, action="cancel")

    answer = await auth.http.get(callback)

    assert "error=access_denied" in callback
    assert answer.status_code == 400
    assert "cancelled" in answer.text
    assert await stored(auth, started["connection_id"]) == {
        "status": "pending",
        "realm_id": None,
        "tokens": 0,
        "used_states": 0,
    }


async def test_a_replayed_state_is_refused(auth: Auth) -> None:
    realm_id = await new_company(auth)
    started = await start_connect(auth, tenant())
    callback = await consent(started["authorize_url"], realm_id=realm_id, browser=auth.http)
    assert (await auth.http.get(callback)).status_code == 200
    before = await stored(auth, started["connection_id"])

    replay = await auth.http.get(callback)

    assert replay.status_code == 400
    assert "already used" in replay.text
    assert await stored(auth, started["connection_id"]) == before


async def test_an_expired_state_is_refused_and_stores_nothing(auth: Auth) -> None:
    realm_id = await new_company(auth)
    started = await start_connect(auth, tenant())
    callback = await consent(started["authorize_url"], realm_id=realm_id, browser=auth.http)
    async with auth.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE auth.oauth_states SET expires_at = now() - interval '1 second' "
                "WHERE connection_id = :c"
            ),
            {"c": started["connection_id"]},
        )

    answer = await auth.http.get(callback)

    assert answer.status_code == 400
    assert "expired" in answer.text
    assert (await stored(auth, started["connection_id"]))["tokens"] == 0


@pytest.mark.parametrize("attack", ["unknown", "altered", "missing"])
async def test_an_unknown_altered_or_missing_state_is_refused_and_stores_nothing(
    auth: Auth, attack: str
) -> None:
    realm_id = await new_company(auth)
    started = await start_connect(auth, tenant())
    callback = await consent(started["authorize_url"], realm_id=realm_id, browser=auth.http)
    query = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    if attack == "unknown":
        query["state"] = "x" * 43
    elif attack == "altered":
        query["state"] = query["state"][:-1] + ("A" if query["state"][-1] != "A" else "B")
    else:
        del query["state"]

    answer = await auth.http.get(urlsplit(callback).path, params=query)

    assert answer.status_code == 400
    assert "unknown or was altered" in answer.text
    assert await stored(auth, started["connection_id"]) == {
        "status": "pending",
        "realm_id": None,
        "tokens": 0,
        "used_states": 0,
    }


async def test_a_callback_without_the_browsers_cookie_is_refused_and_stores_nothing(auth: Auth) -> None:
    realm_id = await new_company(auth)
    started = await start_connect(auth, tenant())
    async with httpx.AsyncClient(timeout=10) as victim, httpx.AsyncClient(timeout=10) as intruder:
        callback = await consent(started["authorize_url"], realm_id=realm_id, browser=victim)
        stolen = await intruder.get(callback)
        still = await stored(auth, started["connection_id"])
        own = await victim.get(callback)

    assert stolen.status_code == 400
    assert "another browser" in stolen.text
    assert still == {"status": "pending", "realm_id": None, "tokens": 0, "used_states": 0}
    assert own.status_code == 200


async def test_the_consent_link_binds_the_first_browser_with_an_httponly_lax_cookie(auth: Auth) -> None:
    started = await start_connect(auth, tenant())
    async with httpx.AsyncClient(timeout=10) as first, httpx.AsyncClient(timeout=10) as second:
        opened = await first.get(started["authorize_url"])
        again = await first.get(started["authorize_url"])
        elsewhere = await second.get(started["authorize_url"])
    cookie = opened.headers["set-cookie"].lower()

    assert started["authorize_url"].startswith(f"{auth.url}/v1/oauth/start?state=")
    assert opened.status_code == 302
    assert "state=" in opened.headers["location"]
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert again.status_code == 302
    assert elsewhere.status_code == 400


async def test_a_multicurrency_companys_profile_lists_its_active_currencies(auth: Auth) -> None:
    realm_id = await new_company(auth, country="GB", multicurrency=True)
    for code in ("EUR", "USD"):
        added = await auth.sandbox.post(
            f"/admin/companies/{realm_id}/act/CompanyCurrency", json={"body": {"Code": code}}
        )
        assert added.status_code == 200, added.text

    connection_id, _ = await connect(auth, tenant(), realm_id)

    company = (await auth.http.get(f"/v1/connections/{connection_id}", headers=ADMIN)).json()["company"]
    assert (company["multicurrency"], company["currencies"]) == (True, ["EUR", "USD"])


async def test_a_single_currency_companys_profile_does_not_read_a_currency_list(auth: Auth) -> None:
    connection_id, _ = await connect(auth, tenant(), await new_company(auth, country="GB"))

    company = (await auth.http.get(f"/v1/connections/{connection_id}", headers=ADMIN)).json()["company"]
    assert (company["multicurrency"], company["currencies"]) == (False, None)
