"""Platforms at auth: registration, tenant ownership, and a platform key acting only for its tenants."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote

import httpx
import pytest

from shared.apikeys import hash_key
from tests.helpers.broker import bind_probe, broker_channel, envelopes
from tests.helpers.platforms import (
    MANAGEMENT_AUTH,
    MANAGEMENT_URL,
    Registry,
    platform_id,
    registry,
    tenant_id,
)
from tests.integration.auth.conftest import ADMIN, Auth, connect, new_company

pytestmark = pytest.mark.integration


@pytest.fixture
async def platforms(auth: Auth) -> AsyncIterator[Registry]:
    async with registry(auth.http, auth.url, auth.settings.amqp_namespace) as made:
        yield made


async def test_registering_a_platform_answers_its_key_and_broker_credentials_and_announces_them(
    auth: Auth, amqp_url: str, platforms: Registry
) -> None:
    async with broker_channel(amqp_url) as (_, channel):
        probe = await bind_probe(channel, auth.settings.amqp_namespace, ["platform.#"])
        a = await platforms.register(tenants=2)
        announced = await envelopes(probe, count=3, timeout=10)
    ns = auth.settings.amqp_namespace
    async with httpx.AsyncClient(base_url=MANAGEMENT_URL, auth=MANAGEMENT_AUTH) as mgmt:
        user = (await mgmt.get(f"/api/users/{ns}{a.platform_id}")).json()
        perms = (await mgmt.get(f"/api/users/{ns}{a.platform_id}/permissions")).json()

    assert a.amqp["ingress_exchange"] == f"{ns}qbo-bridge.ingress"
    assert a.amqp["egress_exchange"] == f"{ns}qbo-bridge.egress"
    assert a.amqp["routing_key_prefix"] == f"{a.platform_id}."
    assert a.amqp["url"].startswith(f"amqp://{ns}{a.platform_id}:")
    assert user["tags"] in ([], "")
    assert perms[0]["configure"].startswith("^")
    assert [e.type for e in announced] == [
        "platform.registered",
        "platform.tenant_added",
        "platform.tenant_added",
    ]
    assert announced[0].data["key_hash"] == hash_key(a.api_key)
    assert sorted(e.data["tenant_id"] for e in announced[1:]) == sorted(a.tenants)
    assert a.api_key not in str([e.data for e in announced])


async def test_a_tenant_belongs_to_one_platform_and_ids_follow_the_rules(
    auth: Auth, platforms: Registry
) -> None:
    a = await platforms.register()
    b = await platforms.register()
    new = tenant_id()

    taken = await auth.http.post(
        f"/v1/platforms/{b.platform_id}/tenants", json={"tenant_id": a.tenants[0]}, headers=ADMIN
    )
    added = await auth.http.post(
        f"/v1/platforms/{b.platform_id}/tenants", json={"tenant_id": new}, headers=ADMIN
    )
    again = await auth.http.post(
        f"/v1/platforms/{b.platform_id}/tenants", json={"tenant_id": new}, headers=ADMIN
    )
    stolen = await auth.http.post(
        "/v1/platforms", json={"platform_id": platform_id(), "tenants": [new]}, headers=ADMIN
    )
    unknown = await auth.http.post(
        "/v1/platforms/nope-123/tenants", json={"tenant_id": tenant_id()}, headers=ADMIN
    )
    twice = await auth.http.post("/v1/platforms", json={"platform_id": a.platform_id}, headers=ADMIN)
    bad_ids = [
        await auth.http.post("/v1/platforms", json={"platform_id": pid}, headers=ADMIN)
        for pid in ("Upper", "-lead", "a.b", "x" * 42, "")
    ]
    bad_tenant = await auth.http.post(
        f"/v1/platforms/{b.platform_id}/tenants", json={"tenant_id": "has.dot"}, headers=ADMIN
    )
    by_platform = await auth.http.post(
        f"/v1/platforms/{b.platform_id}/tenants", json={"tenant_id": tenant_id()}, headers=b.auth_header
    )

    assert taken.status_code == 409
    assert (added.status_code, added.json()) == (201, {"platform_id": b.platform_id, "tenant_id": new})
    assert again.status_code == 201
    assert stolen.status_code == 409
    assert unknown.status_code == 404
    assert twice.status_code == 409
    assert [r.status_code for r in bad_ids] == [422] * 5
    assert bad_tenant.status_code == 422
    assert by_platform.status_code == 403


async def test_a_platform_key_acts_for_each_of_its_tenants_and_no_other(
    auth: Auth, platforms: Registry
) -> None:
    a = await platforms.register(tenants=2)
    b = await platforms.register()
    mine, _ = await connect(auth, a.tenants[0], await new_company(auth))
    theirs, _ = await connect(auth, b.tenants[0], await new_company(auth))

    listed = await auth.http.get("/v1/connections", headers=a.auth_header)
    shown = await auth.http.get(f"/v1/connections/{mine}", headers=a.auth_header)
    started = await auth.http.post("/v1/connections", json={"tenant_id": a.tenants[1]}, headers=a.auth_header)
    refused = {
        "get": await auth.http.get(f"/v1/connections/{theirs}", headers=a.auth_header),
        "list": await auth.http.get(
            "/v1/connections", params={"tenant_id": b.tenants[0]}, headers=a.auth_header
        ),
        "delete": await auth.http.delete(f"/v1/connections/{theirs}", headers=a.auth_header),
        "connect": await auth.http.post(
            "/v1/connections", json={"tenant_id": b.tenants[0]}, headers=a.auth_header
        ),
        "unowned": await auth.http.post(
            "/v1/connections", json={"tenant_id": tenant_id()}, headers=a.auth_header
        ),
    }
    admin_only = await auth.http.post(f"/v1/tenants/{a.tenants[0]}/api-keys", headers=a.auth_header)

    assert [c["connection_id"] for c in listed.json()["connections"]] == [mine]
    assert shown.status_code == 200
    assert started.status_code == 201
    assert {k: r.status_code for k, r in refused.items()} == dict.fromkeys(refused, 404)
    assert admin_only.status_code == 403


async def test_a_platform_named_like_the_bridges_own_queues_is_refused_and_gets_no_broker_user(
    auth: Auth,
) -> None:
    answers = {
        pid: await auth.http.post("/v1/platforms", json={"platform_id": pid}, headers=ADMIN)
        for pid in ("mapper", "exporter", "qbo-bridge")
    }

    assert {pid: a.status_code for pid, a in answers.items()} == dict.fromkeys(answers, 422)
    assert "reserved" in answers["mapper"].text
    async with httpx.AsyncClient(base_url=MANAGEMENT_URL, auth=MANAGEMENT_AUTH, timeout=10) as http:
        for pid in answers:
            user = await http.get(f"/api/users/{quote(auth.settings.amqp_namespace + pid, safe='')}")
            assert user.status_code == 404, pid
