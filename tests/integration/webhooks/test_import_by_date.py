"""An import limited to entities and a creation date range publishes only those objects, with progress."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from tests.helpers.broker import bind_probe, broker_channel, envelopes
from tests.integration.webhooks.conftest import ADMIN_KEY, Stack, stack, wait_until

pytestmark = pytest.mark.integration
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


async def _invoices(s: Stack, connection_id: str, realm_id: str) -> dict[str, datetime]:
    """Every invoice of the company with its creation time, read from QBO (the sandbox) directly."""
    token = await s.tokens.get(connection_id)
    answer = await s.sandbox.get(
        f"/v3/company/{realm_id}/query",
        params={"query": "SELECT * FROM Invoice MAXRESULTS 1000"},
        headers={"Authorization": f"Bearer {token.access_token}", "Accept": "application/json"},
    )
    answer.raise_for_status()
    rows: list[dict[str, Any]] = answer.json()["QueryResponse"].get("Invoice", [])
    return {r["Id"]: datetime.fromisoformat(r["MetaData"]["CreateTime"]) for r in rows}


async def _finished(s: Stack, connection_id: str, job_id: str) -> dict[str, Any] | None:
    answer = await s.service.get(f"/v1/connections/{connection_id}/imports", headers=ADMIN)
    job = next((j for j in answer.json() if j["job_id"] == job_id), None)
    return job if job and job["status"] in ("done", "failed") else None


async def test_an_import_by_creation_date_publishes_only_the_objects_created_in_the_range(
    database_url: str, amqp_url: str, namespace: str, sandbox_url: str
) -> None:
    async with (
        stack(database_url, amqp_url, namespace, sandbox_url) as s,
        broker_channel(amqp_url) as (_, channel),
    ):
        _, connection_id, realm_id = await s.connect_company()
        created = await _invoices(s, connection_id, realm_id)
        times = sorted(created.values())
        start, end = times[len(times) // 3], times[2 * len(times) // 3]
        expected = {i for i, t in created.items() if start <= t <= end}
        probe = await bind_probe(channel, namespace, ["qbo.invoice.changed"])
        body = {"entities": ["Invoice"], "created_from": start.isoformat(), "created_to": end.isoformat()}

        requested = await s.service.post(f"/v1/connections/{connection_id}/import", json=body, headers=ADMIN)
        job = await wait_until(lambda: _finished(s, connection_id, requested.json()["job_id"]), timeout=60)
        # One more than expected: waits out the bound, so an extra object would be seen (none must be).
        published = await envelopes(probe, count=len(expected) + 1, timeout=8)
        refused = await s.service.post(
            f"/v1/connections/{connection_id}/import", json={"entities": ["Nonsense"]}, headers=ADMIN
        )

    assert requested.status_code == 202, requested.text
    assert 0 < len(expected) < len(created)
    assert sorted(e.data["qbo_id"] for e in published) == sorted(expected)
    assert {e.data["operation"] for e in published} == {"Import"}
    assert (job["status"], job["counts"], job["published"]) == (
        "done",
        {"Invoice": len(expected)},
        len(expected),
    )
    assert job["entities"] == ["Invoice"]
    assert refused.status_code == 422
    assert "Nonsense" in refused.text


async def test_the_imports_of_a_connection_are_listed_for_its_tenant_only(
    database_url: str, amqp_url: str, namespace: str, sandbox_url: str
) -> None:
    async with stack(database_url, amqp_url, namespace, sandbox_url) as s:
        _, connection_id, _ = await s.connect_company()

        listed = await s.service.get(f"/v1/connections/{connection_id}/imports", headers=ADMIN)
        unknown = await s.service.get("/v1/connections/nope/imports", headers=ADMIN)

    assert listed.status_code == 200
    first = listed.json()[0]
    assert (first["kind"], first["status"], first["entities"]) == ("import", "done", None)
    assert first["counts"]["Customer"] > 0
    assert unknown.status_code == 404
