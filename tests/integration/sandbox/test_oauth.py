"""Intuit OAuth as the sandbox serves it over HTTP (reference §1)."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from tests.helpers.sandbox import connect, create_app, create_company
from tests.integration.sandbox.conftest import REDIRECT_URI, Realm, make_realm


@pytest.fixture
async def strict_rotation(admin: httpx.AsyncClient) -> AsyncIterator[None]:
    before = (await admin.get("/admin/tokens/settings")).json()
    await admin.put("/admin/tokens/settings", json={"rotation_seconds": 0, "grace_seconds": 0})
    yield
    await admin.put("/admin/tokens/settings", json=before)


def basic(app: dict[str, Any]) -> tuple[str, str]:
    return (app["client_id"], app["client_secret"])


async def refresh(
    admin: httpx.AsyncClient, app: dict[str, Any], token: str, **headers: str
) -> httpx.Response:
    return await admin.post(
        "/oauth2/v1/tokens/bearer",
        data={"grant_type": "refresh_token", "refresh_token": token},
        auth=basic(app),
        headers={"Accept": "application/json", **headers},
    )


@pytest.mark.parametrize(
    "path",
    [
        "/.well-known/openid_configuration",
        "/.well-known/openid_configuration/",
        "/.well-known/openid_sandbox_configuration",
        "/.well-known/openid_sandbox_configuration/",
    ],
)
async def test_discovery_documents_name_the_sandbox_origin(admin: httpx.AsyncClient, path: str) -> None:
    doc = (await admin.get(path)).json()
    origin = str(admin.base_url).rstrip("/")
    assert doc["token_endpoint"] == f"{origin}/oauth2/v1/tokens/bearer"
    assert doc["authorization_endpoint"] == f"{origin}/connect/oauth2"
    assert doc["revocation_endpoint"] == f"{origin}/v2/oauth2/tokens/revoke"
    assert set(doc["token_endpoint_auth_methods_supported"]) == {"client_secret_post", "client_secret_basic"}


async def test_consent_page_connect_redirects_with_code_state_and_realm(admin: httpx.AsyncClient) -> None:
    realm_id = await create_company(admin)
    app = await create_app(admin, redirect_uris=[REDIRECT_URI])
    page = await admin.get(
        "/connect/oauth2",
        params={
            "client_id": app["client_id"],
            "response_type": "code",
            "scope": "com.intuit.quickbooks.accounting",
            "redirect_uri": REDIRECT_URI,
            "state": "s-1",
        },
    )
    assert page.status_code == 200
    assert "<form" in page.text
    assert realm_id in page.text
    form = dict(re.findall(r'name="(\w+)" value="([^"]*)"', page.text))
    reply = await admin.post("/connect/oauth2", data={**form, "realm_id": realm_id, "action": "connect"})
    assert reply.status_code == 302
    query = parse_qs(urlparse(reply.headers["location"]).query)
    assert query["state"] == ["s-1"]
    assert query["realmId"] == [realm_id]
    assert query["code"][0]


async def test_consent_page_cancel_redirects_with_access_denied(admin: httpx.AsyncClient) -> None:
    app = await create_app(admin, redirect_uris=[REDIRECT_URI])
    reply = await admin.post(
        "/connect/oauth2",
        data={
            "client_id": app["client_id"],
            "redirect_uri": REDIRECT_URI,
            "scope": "com.intuit.quickbooks.accounting",
            "state": "s-2",
            "action": "cancel",
        },
    )
    query = parse_qs(urlparse(reply.headers["location"]).query)
    assert query == {"error": ["access_denied"], "state": ["s-2"]}


async def test_unregistered_redirect_uri_is_refused(admin: httpx.AsyncClient) -> None:
    app = await create_app(admin, redirect_uris=[REDIRECT_URI])
    page = await admin.get(
        "/connect/oauth2",
        params={
            "client_id": app["client_id"],
            "response_type": "code",
            "scope": "com.intuit.quickbooks.accounting",
            "redirect_uri": "http://evil.example/cb",
            "state": "x",
        },
    )
    assert page.status_code == 400


async def test_token_response_has_intuits_fields(admin: httpx.AsyncClient) -> None:
    realm = await make_realm(admin)
    assert realm.tokens["token_type"] == "bearer"
    assert realm.tokens["expires_in"] == 3600
    assert 8_726_000 < realm.tokens["x_refresh_token_expires_in"] <= 8_726_400
    assert "x_refresh_token_hard_expires_in" not in realm.tokens


async def test_hard_expiry_is_returned_only_on_opt_in(realm: Realm, admin: httpx.AsyncClient) -> None:
    reply = await refresh(
        admin, realm.app, realm.tokens["refresh_token"], **{"x-include-refresh-token-hard-expires-in": "true"}
    )
    assert reply.json()["x_refresh_token_hard_expires_in"] > 86_400 * 365 * 4
    assert reply.headers["intuit_tid"]


async def test_wrong_client_secret_is_invalid_client(realm: Realm, admin: httpx.AsyncClient) -> None:
    reply = await admin.post(
        "/oauth2/v1/tokens/bearer",
        data={"grant_type": "refresh_token", "refresh_token": realm.tokens["refresh_token"]},
        auth=(realm.app["client_id"], "wrong"),
    )
    assert reply.status_code == 401
    assert reply.json()["error"] == "invalid_client"


async def test_authorization_code_is_single_use(admin: httpx.AsyncClient) -> None:
    realm_id = await create_company(admin)
    app = await create_app(admin, redirect_uris=[REDIRECT_URI])
    url = (
        await admin.post(
            "/admin/oauth/authorize",
            json={
                "client_id": app["client_id"],
                "realm_id": realm_id,
                "redirect_uri": REDIRECT_URI,
                "state": "s",
                "scope": "com.intuit.quickbooks.accounting",
            },
        )
    ).json()["redirect_url"]
    code = parse_qs(urlparse(url).query)["code"][0]
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    first = await admin.post("/oauth2/v1/tokens/bearer", data=body, auth=basic(app))
    second = await admin.post("/oauth2/v1/tokens/bearer", data=body, auth=basic(app))
    assert first.status_code == 200
    assert (second.status_code, second.json()["error"]) == (400, "invalid_grant")


async def test_refresh_within_rotation_period_returns_same_refresh_token(
    realm: Realm, admin: httpx.AsyncClient
) -> None:
    reply = await refresh(admin, realm.app, realm.tokens["refresh_token"])
    assert reply.json()["refresh_token"] == realm.tokens["refresh_token"]
    assert reply.json()["access_token"] != realm.tokens["access_token"]


async def test_rotated_away_refresh_token_is_invalid_grant(
    realm: Realm, admin: httpx.AsyncClient, strict_rotation: None
) -> None:
    rotated = (await refresh(admin, realm.app, realm.tokens["refresh_token"])).json()
    assert rotated["refresh_token"] != realm.tokens["refresh_token"]
    stale = await refresh(admin, realm.app, realm.tokens["refresh_token"])
    assert (stale.status_code, stale.json()["error"]) == (400, "invalid_grant")
    assert (await refresh(admin, realm.app, rotated["refresh_token"])).status_code == 200


async def test_expired_refresh_token_is_invalid_grant(realm: Realm, admin: httpx.AsyncClient) -> None:
    await admin.post("/admin/tokens/expire", json={"realm_id": realm.realm_id, "kind": "refresh"})
    reply = await refresh(admin, realm.app, realm.tokens["refresh_token"])
    assert reply.json()["error"] == "invalid_grant"


async def test_expired_access_token_gets_401_3200_in_gateway_shape(
    realm: Realm, admin: httpx.AsyncClient
) -> None:
    await admin.post("/admin/tokens/expire", json={"realm_id": realm.realm_id, "kind": "access"})
    reply = await realm.get(f"/companyinfo/{realm.realm_id}")
    assert reply.status_code == 401
    error = reply.json()["fault"]["error"][0]
    assert error["code"] == "3200"
    assert error["detail"].startswith("Token expired")
    assert reply.json()["fault"]["type"] == "AUTHENTICATION"


async def test_revoke_ends_api_access_and_refresh(realm: Realm, admin: httpx.AsyncClient) -> None:
    reply = await admin.post(
        "/v2/oauth2/tokens/revoke", json={"token": realm.tokens["refresh_token"]}, auth=basic(realm.app)
    )
    assert reply.status_code == 200
    api = await realm.get(f"/companyinfo/{realm.realm_id}")
    assert api.status_code == 401
    assert api.json()["fault"]["error"][0]["code"] == "3200"
    assert (await refresh(admin, realm.app, realm.tokens["refresh_token"])).json()["error"] == "invalid_grant"


async def test_token_for_another_company_is_403_3100(realm: Realm, admin: httpx.AsyncClient) -> None:
    other = await create_company(admin)
    reply = await admin.get(f"/v3/company/{other}/companyinfo/{other}", headers=realm.headers)
    assert reply.status_code == 403
    assert reply.json()["fault"]["error"][0]["code"] == "3100"


async def test_userinfo_answers_for_openid_grants(admin: httpx.AsyncClient) -> None:
    realm_id = await create_company(admin)
    app = await create_app(admin, redirect_uris=[REDIRECT_URI])
    tokens = await connect(
        admin,
        app=app,
        realm_id=realm_id,
        redirect_uri=REDIRECT_URI,
        scope="com.intuit.quickbooks.accounting openid email",
    )
    _header, payload, _ = tokens["id_token"].split(".")
    claims = base64.urlsafe_b64decode(payload + "==").decode()
    assert realm_id in claims
    info = await admin.get(
        "/v1/openid_connect/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert info.json()["email"]


async def test_token_calls_are_in_the_request_log(realm: Realm, admin: httpx.AsyncClient) -> None:
    await refresh(admin, realm.app, realm.tokens["refresh_token"])
    log = (await admin.get("/admin/requests", params={"realm_id": realm.realm_id})).json()
    token_calls = [e for e in log if e["path"] == "/oauth2/v1/tokens/bearer"]
    assert len(token_calls) == 2  # the code exchange and the refresh
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}", token_calls[0]["time"])


async def test_expired_authorization_code_is_invalid_grant(admin: httpx.AsyncClient) -> None:
    before = (await admin.get("/admin/tokens/settings")).json()
    await admin.put("/admin/tokens/settings", json={"code_ttl": 0})
    try:
        realm_id = await create_company(admin)
        app = await create_app(admin, redirect_uris=[REDIRECT_URI])
        with pytest.raises(httpx.HTTPStatusError) as err:
            await connect(admin, app=app, realm_id=realm_id, redirect_uri=REDIRECT_URI)
    finally:
        await admin.put("/admin/tokens/settings", json=before)
    assert err.value.response.json()["error"] == "invalid_grant"
