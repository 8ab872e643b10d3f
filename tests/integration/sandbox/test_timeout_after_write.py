"""The sandbox's "timeout after the write" fault: the write lands, the caller gets a 504."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.sandbox.conftest import make_realm

pytestmark = pytest.mark.integration


async def test_a_write_times_out_after_it_landed_and_its_requestid_replays_the_result(
    unthrottled_url: str,
) -> None:
    async with httpx.AsyncClient(base_url=unthrottled_url, timeout=60) as client:
        realm = await make_realm(client)
        await client.put(
            "/admin/faults",
            json={"realm_id": realm.realm_id, "timeout_after_write_rate": 1.0, "timeout_seconds": 1.0},
        )
        try:
            timed_out = await realm.post(
                "/customer", {"DisplayName": "Late Answer Ltd"}, requestid="r-late-1"
            )
        finally:
            await client.delete("/admin/faults", params={"realm_id": realm.realm_id})
        replayed = await realm.post("/customer", {"DisplayName": "Late Answer Ltd"}, requestid="r-late-1")
        stored = (await client.get(f"/admin/companies/{realm.realm_id}/entities/Customer")).json()

    assert timed_out.status_code == 504
    assert replayed.status_code == 200
    assert [c["Id"] for c in stored if c["DisplayName"] == "Late Answer Ltd"] == [
        replayed.json()["Customer"]["Id"]
    ]
