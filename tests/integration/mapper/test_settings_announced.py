"""Settings an older mapper saved, before it announced ``connection.settings_changed``, reach the
read path's copy all the same: the mapper announces each such connection once, however many
replicas start, and a later run announces nothing more."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.mapper import models as mapper_models
from services.mapper.app import DEFINITION
from services.mapper.sync_settings import CategorySettings, SyncSettings
from services.webhooks import handlers as webhooks_handlers
from services.webhooks import models as webhooks_models
from shared.db import create_engine
from tests.helpers.broker import bind_probe, broker_channel, delete_namespace
from tests.helpers.sandbox import free_port
from tests.integration.mapper.conftest import serving_mapper, unique, until
from tests.integration.webhooks.conftest import left_in, serving_webhooks

pytestmark = pytest.mark.integration

FROM_QBO = SyncSettings(categories={"customers": CategorySettings(direction="from_qbo")})


async def _saved_by_an_older_version(engine: AsyncEngine, connection_id: str, *, version: int) -> None:
    """A settings row as a mapper from before the announcement left it (no column of this one named)."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO mapper.connection_settings (connection_id, tenant_id, version, settings) "
                "VALUES (:connection_id, :tenant_id, :version, CAST(:settings AS jsonb))"
            ),
            {
                "connection_id": connection_id,
                "tenant_id": unique("tenant"),
                "version": version,
                "settings": FROM_QBO.model_dump_json(),
            },
        )


async def _read_path_has(engine: AsyncEngine, connection_ids: list[str], version: int) -> bool:
    """The webhooks service's copy holds ``version`` (customers ``from_qbo``) of every one."""
    t = webhooks_models.read_settings
    query = select(t.c.version, t.c.categories).where(t.c.connection_id.in_(connection_ids))
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    held = [r for r in rows if r.version == version and r.categories["customers"]["direction"] == "from_qbo"]
    return len(held) == len(connection_ids)


async def _outbox_empty(engine: AsyncEngine) -> bool:
    t = mapper_models.outbox
    async with engine.connect() as conn:
        left = await conn.scalar(select(func.count()).where(t.c.quarantined_at.is_(None)))
    return left == 0


@contextlib.asynccontextmanager
async def _replicas(database_url: str, amqp_url: str, namespace: str, count: int) -> AsyncIterator[None]:
    async with contextlib.AsyncExitStack() as replicas:
        for _ in range(count):
            await replicas.enter_async_context(
                serving_mapper(database_url, amqp_url, namespace, settings_announce_chunk=2)
            )
        yield


async def test_settings_an_older_version_saved_are_announced_once_and_the_read_path_then_has_them(
    database_url: str, amqp_url: str, namespace: str
) -> None:
    engine = create_engine(database_url, application_name="qbb-tests", pool_size=2)
    prefix = unique("conn")
    older = [f"{prefix}-a{i}" for i in range(3)]  # more than one chunk of two
    later = f"{prefix}-z"  # sorts after them: announced in the run's last chunk
    try:
        async with (
            broker_channel(amqp_url) as (_, channel),
            serving_webhooks(database_url, amqp_url, namespace, port=free_port(), tokens=None),
        ):
            probe = await bind_probe(channel, namespace, ["connection.settings_changed"])
            for connection_id in older:
                await _saved_by_an_older_version(engine, connection_id, version=3)

            # A second replica starts while the first is announcing or has announced.
            async with _replicas(database_url, amqp_url, namespace, 2):
                await until(lambda: _read_path_has(engine, older, 3))

            await _saved_by_an_older_version(engine, later, version=1)
            async with _replicas(database_url, amqp_url, namespace, 1):  # a later run
                await until(lambda: _read_path_has(engine, [later], 1))
                await until(lambda: _outbox_empty(engine))
            announced = Counter(e.data["connection_id"] for e in await left_in(probe))
    finally:
        await engine.dispose()
        await delete_namespace(amqp_url, namespace, [DEFINITION.router, webhooks_handlers.router])

    assert {c: announced[c] for c in [*older, later]} == dict.fromkeys([*older, later], 1)
