"""Who may call what: tenant API keys, the admin key, the internal token; tenants never see each other."""

from __future__ import annotations

import pytest

from shared.apikeys import hash_key
from tests.helpers.broker import bind_probe, broker_channel, envelopes
from tests.integration.auth.conftest import ADMIN, INTERNAL, Auth, connected, tenant, tenant_key

pytestmark = pytest.mark.integration


async def test_issuing_and_revoking_a_key_announces_its_hash_and_it_stops_working(
    auth: Auth, amqp_url: str
) -> None:
    tenant_id = tenant()
    async with broker_channel(amqp_url) as (_, channel):
        probe = await bind_probe(channel, auth.settings.amqp_namespace, ["tenant.#"])
        issued = await auth.http.post(f"/v1/tenants/{tenant_id}/api-keys", headers=ADMIN)
        key = issued.json()["key"]
        headers = {"Authorization": f"Bearer {key}"}
        works = await auth.http.get("/v1/connections", headers=headers)
        revoked = await auth.http.delete(
            f"/v1/tenants/{tenant_id}/api-keys/{issued.json()['key_id']}", headers=ADMIN
        )
        refused = await auth.http.get("/v1/connections", headers=headers)
        events = await envelopes(probe, count=2, timeout=10)

    assert issued.status_code == 201
    assert (works.status_code, works.json()) == (200, {"connections": []})
    assert revoked.status_code == 204
    assert refused.status_code == 401
    assert [e.type for e in events] == ["tenant.api_key_issued", "tenant.api_key_revoked"]
    assert events[0].data["key_hash"] == hash_key(key)
    assert key not in str([e.data for e in events])


async def test_only_the_admin_key_issues_and_revokes_keys(auth: Auth) -> None:
    tenant_id = tenant()
    own = await tenant_key(auth, tenant_id)

    for headers in (own, INTERNAL, {}):
        issued = await auth.http.post(f"/v1/tenants/{tenant_id}/api-keys", headers=headers)
        revoked = await auth.http.delete(f"/v1/tenants/{tenant_id}/api-keys/abc", headers=headers)
        assert issued.status_code in (401, 403)
        assert revoked.status_code in (401, 403)


async def test_a_tenant_sees_and_manages_its_own_connection(auth: Auth) -> None:
    tenant_id, realm_id, connection_id = await connected(auth)
    own = await tenant_key(auth, tenant_id)

    listed = await auth.http.get("/v1/connections", headers=own)
    shown = await auth.http.get(f"/v1/connections/{connection_id}", headers=own)
    refreshed = await auth.http.post(f"/v1/connections/{connection_id}/refresh-profile", headers=own)
    started = await auth.http.post("/v1/connections", json={"tenant_id": tenant_id}, headers=own)
    deleted = await auth.http.delete(f"/v1/connections/{connection_id}", headers=own)

    assert [c["connection_id"] for c in listed.json()["connections"]] == [connection_id]
    assert (shown.status_code, shown.json()["realm_id"]) == (200, realm_id)
    assert refreshed.status_code == 200
    assert (started.status_code, started.json()["connection_id"]) == (201, connection_id)
    assert deleted.status_code == 204


async def test_a_tenant_can_never_reach_another_tenants_connection(auth: Auth) -> None:
    victim, _, connection_id = await connected(auth)
    intruder = await tenant_key(auth, tenant())
    path = f"/v1/connections/{connection_id}"

    answers = {
        "get": await auth.http.get(path, headers=intruder),
        "list": await auth.http.get("/v1/connections", params={"tenant_id": victim}, headers=intruder),
        "refresh-profile": await auth.http.post(f"{path}/refresh-profile", headers=intruder),
        "delete": await auth.http.delete(path, headers=intruder),
        "connect": await auth.http.post("/v1/connections", json={"tenant_id": victim}, headers=intruder),
        "access-token": await auth.http.get(
            f"/internal/v1/connections/{connection_id}/access-token", headers=intruder
        ),
        "issue-key": await auth.http.post(f"/v1/tenants/{victim}/api-keys", headers=intruder),
    }
    own_list = await auth.http.get("/v1/connections", headers=intruder)

    assert {name: r.status_code for name, r in answers.items()} == {
        "get": 404,
        "list": 404,
        "refresh-profile": 404,
        "delete": 404,
        "connect": 404,
        "access-token": 403,
        "issue-key": 403,
    }
    assert own_list.json() == {"connections": []}
    still = await auth.http.get(path, headers=ADMIN)
    assert still.json()["status"] == "active"


async def test_requests_without_a_known_key_are_refused(auth: Auth) -> None:
    _, _, connection_id = await connected(auth)
    for headers in ({}, {"Authorization": "Bearer qbb_nope"}):
        assert (await auth.http.get(f"/v1/connections/{connection_id}", headers=headers)).status_code == 401
        assert (
            await auth.http.post("/v1/connections", json={"tenant_id": "t"}, headers=headers)
        ).status_code == 401
