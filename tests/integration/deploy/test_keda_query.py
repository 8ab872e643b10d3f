"""KEDA's PostgreSQL trigger for the exporter runs on the real schema and counts realms with ready jobs."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from shared.db import asyncpg_dsn
from tests.helpers.kustomize import find
from tests.unit.deploy.manifests import PRODUCTION, built

pytestmark = pytest.mark.integration


def _query() -> str:
    scaled = find(built(PRODUCTION), "ScaledObject", "qbb-exporter")
    (trigger,) = [t for t in scaled["spec"]["triggers"] if t["type"] == "postgresql"]
    query: str = trigger["metadata"]["query"]
    return query


async def _add_job(conn: asyncpg.Connection, *, realm: str, status: str, due_in_s: int) -> None:
    await conn.execute(
        """INSERT INTO exporter.jobs (id, connection_id, realm_id, entity, operation, object_type,
               platform_id, source_event_id, requestid, payload, status, next_attempt_at)
           VALUES ($1, $2, $3, 'Invoice', 'create', 'invoice', $1, $1, $1, '{}', $4,
                   now() + make_interval(secs => $5))""",
        str(uuid.uuid4()),
        f"conn-{realm}",
        realm,
        status,
        due_in_s,
    )


async def test_the_keda_query_counts_each_realm_with_a_job_ready_now_once(database_url: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        async with conn.transaction():
            before = await conn.fetchval(_query())
            realm_a, realm_b = f"keda-a-{uuid.uuid4().hex[:8]}", f"keda-b-{uuid.uuid4().hex[:8]}"
            for _ in range(3):
                await _add_job(conn, realm=realm_a, status="queued", due_in_s=-1)
            await _add_job(conn, realm=realm_b, status="queued", due_in_s=600)  # not due yet
            await _add_job(conn, realm=realm_b, status="succeeded", due_in_s=-1)
            assert await conn.fetchval(_query()) == before + 1
            await _add_job(conn, realm=realm_b, status="queued", due_in_s=-1)
            assert await conn.fetchval(_query()) == before + 2
            raise _Rollback
    except _Rollback:
        pass
    finally:
        await conn.close()


class _Rollback(Exception):
    """Leaves the shared test database as it was."""
