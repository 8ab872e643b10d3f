"""``python -m shared.migrate_all`` (the migration Job) brings an empty database to every schema's head."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from shared.db import asyncpg_dsn
from shared.migrate_all import ROOT, environments
from tests.helpers.infra import _admin

pytestmark = pytest.mark.integration


async def _versions(url: str) -> dict[str, str]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await conn.fetch(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = 'alembic_version'"
        )
        return {
            r["table_schema"]: await conn.fetchval(
                f'SELECT version_num FROM "{r["table_schema"]}".alembic_version'
            )
            for r in rows
        }
    finally:
        await conn.close()


def _run(url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QBB_DATABASE_URL": url, "QBB_ENVIRONMENT": "production"}
    for secret in ("QBB_ADMIN_API_KEY", "QBB_INTERNAL_TOKEN", "QBB_TOKEN_ENCRYPTION_KEYS"):
        env.pop(secret, None)  # the Job holds no other secret
    return subprocess.run(
        [sys.executable, "-m", "shared.migrate_all"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_every_schema_is_migrated_with_only_the_database_url_and_a_second_run_is_a_no_op(
    server_database_url: str,
) -> None:
    name = f"qbb_migrate_all_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    asyncio.run(_admin(server_database_url, f'CREATE DATABASE "{name}"'))
    url = make_url(server_database_url).set(database=name).render_as_string(hide_password=False)
    try:
        first = _run(url)
        assert first.returncode == 0, first.stdout + first.stderr
        versions = asyncio.run(_versions(url))
        assert set(versions) == {schema for _, schema in environments()}
        assert {"auth", "mapper", "exporter", "webhooks", "qbo_limits"} <= set(versions)
        second = _run(url)
        assert second.returncode == 0, second.stdout + second.stderr
        assert asyncio.run(_versions(url)) == versions
    finally:
        asyncio.run(_admin(server_database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
