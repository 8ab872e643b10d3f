"""The suite's own hygiene on the shared local servers: what a killed run left is removed by the next."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

import asyncpg
from sqlalchemy.engine import make_url

from shared.db import asyncpg_dsn
from tests.helpers.infra import _admin, drop_dead_sessions_databases


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


async def _databases(server_database_url: str) -> set[str]:
    maintenance = make_url(server_database_url).set(database="postgres").render_as_string(hide_password=False)
    conn = await asyncpg.connect(asyncpg_dsn(maintenance))
    try:
        return {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")}
    finally:
        await conn.close()


def test_databases_of_dead_test_processes_are_dropped_and_live_ones_kept(server_database_url: str) -> None:
    dead = f"qbb_e2e_{_dead_pid()}_{uuid.uuid4().hex[:6]}"
    alive = f"qbb_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    foreign = f"qbb_bench_{uuid.uuid4().hex[:6]}"  # not a test session's name: never touched
    for name in (dead, alive, foreign):
        asyncio.run(_admin(server_database_url, f'CREATE DATABASE "{name}"'))
    try:
        asyncio.run(drop_dead_sessions_databases(server_database_url))
        left = asyncio.run(_databases(server_database_url))
        assert dead not in left
        assert {alive, foreign} <= left
    finally:
        for name in (dead, alive, foreign):
            asyncio.run(_admin(server_database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
