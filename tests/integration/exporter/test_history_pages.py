"""The sync history a page at a time: ``before_seq`` continues where a full page ended."""

from __future__ import annotations

import httpx
from aio_pika.abc import AbstractChannel
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers.broker import publish
from tests.integration.exporter.kit import (
    ADMIN_KEY,
    FakeAuth,
    connect_realm,
    customer,
    serving_exporter,
    settings_for,
    wait_for_jobs,
)


async def test_before_seq_pages_through_the_history_newest_first_without_gaps_or_repeats(
    database_url: str,
    amqp_url: str,
    namespace: str,
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    engine: AsyncEngine,
) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with serving_exporter(settings_for(database_url, amqp_url, namespace, auth_url=auth.url)) as url:
        conn = await connect_realm(sandbox, auth, channel, namespace, engine)
        for _ in range(5):
            await publish(channel, namespace, customer(conn))
        await wait_for_jobs(engine, conn.connection_id, count=5)
        path = f"{url}/v1/connections/{conn.connection_id}/jobs"
        async with httpx.AsyncClient(headers=admin) as client:
            everything = (await client.get(path)).json()["jobs"]
            first = (await client.get(path, params={"limit": 2})).json()["jobs"]
            second = (await client.get(path, params={"limit": 2, "before_seq": first[-1]["seq"]})).json()[
                "jobs"
            ]
            third = (await client.get(path, params={"limit": 2, "before_seq": second[-1]["seq"]})).json()[
                "jobs"
            ]
    paged = [j["id"] for j in first + second + third]
    assert paged == [j["id"] for j in everything]
    assert [j["seq"] for j in everything] == sorted((j["seq"] for j in everything), reverse=True)
    assert len(third) == 1
