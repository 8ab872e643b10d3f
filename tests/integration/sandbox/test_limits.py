"""Intuit's throttles (reference §6) on the shared sandbox, whose limits are on by default."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.integration.sandbox.conftest import Realm, make_realm

DEFAULTS = {
    "enabled": True,
    "per_minute": 500,
    "per_second": 10,
    "concurrent": 10,
    "batch_per_minute": 40,
    "batch_per_realm_per_minute": 120,
    "time_scale": 1.0,
}


@pytest.fixture
async def shared(sandbox_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=30) as client:
        yield client
        await client.put("/admin/limits", json=DEFAULTS)


async def test_limits_default_to_intuits_values(shared: httpx.AsyncClient) -> None:
    assert (await shared.get("/admin/limits")).json() == DEFAULTS


async def test_eleventh_call_in_a_second_is_429_3001(shared: httpx.AsyncClient) -> None:
    realm = await make_realm(shared)
    # Compress time so "one second" spans the whole burst whatever the machine's speed.
    await shared.put("/admin/limits", json={"time_scale": 0.05})
    replies = [await realm.get(f"/companyinfo/{realm.realm_id}") for _ in range(11)]
    assert [r.status_code for r in replies[:10]] == [200] * 10
    assert replies[10].status_code == 429
    assert replies[10].json()["Fault"]["Error"][0]["code"] == "3001"


async def test_time_scale_compresses_the_minute_window(shared: httpx.AsyncClient) -> None:
    realm = await make_realm(shared)
    # A "minute" of 5 s: long enough for four calls on a loaded machine, short enough to wait out.
    await shared.put("/admin/limits", json={"per_minute": 3, "time_scale": 12})
    statuses = [(await realm.get(f"/companyinfo/{realm.realm_id}")).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    async with asyncio.timeout(10):
        while (await realm.get(f"/companyinfo/{realm.realm_id}")).status_code == 429:
            await asyncio.sleep(0.1)


async def test_limits_are_per_realm_and_app(shared: httpx.AsyncClient) -> None:
    first, second = await make_realm(shared), await make_realm(shared)
    await shared.put("/admin/limits", json={"per_minute": 2, "time_scale": 0.01})
    for _ in range(2):
        await first.get(f"/companyinfo/{first.realm_id}")
    assert (await first.get(f"/companyinfo/{first.realm_id}")).status_code == 429
    assert (await second.get(f"/companyinfo/{second.realm_id}")).status_code == 200


async def test_batch_per_minute_limit(shared: httpx.AsyncClient) -> None:
    realm = await make_realm(shared)
    await shared.put("/admin/limits", json={"batch_per_minute": 2, "time_scale": 0.01})
    body = {"BatchItemRequest": [{"bId": "q", "Query": "select * from Term"}]}
    statuses = [(await realm.post("/batch", body)).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert (await realm.get(f"/companyinfo/{realm.realm_id}")).status_code == 200


async def test_more_than_ten_concurrent_calls_are_throttled(shared: httpx.AsyncClient) -> None:
    realm: Realm = await make_realm(shared)
    await shared.put("/admin/limits", json={"per_second": 1000, "per_minute": 1000})
    await shared.put("/admin/faults", json={"realm_id": realm.realm_id, "latency_ms": 1500})
    try:
        replies = await asyncio.gather(*(realm.get(f"/companyinfo/{realm.realm_id}") for _ in range(14)))
    finally:
        await shared.delete("/admin/faults", params={"realm_id": realm.realm_id})
    statuses = sorted(r.status_code for r in replies)
    assert statuses.count(200) == 10
    assert statuses.count(429) == 4
