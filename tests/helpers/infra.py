"""Session fixtures for the real Postgres and RabbitMQ (never stand-ins; a missing server fails loudly)."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import re
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import aio_pika
import asyncpg
import pytest
from sqlalchemy.engine import make_url

from shared.db import asyncpg_dsn, migrate
from shared.infra import docker_engine_answers, find_broker, find_database, missing_message

ROOT = Path(__file__).resolve().parents[2]
SERVICE_SCHEMAS = {
    name: ROOT / "services" / name / "migrations" for name in ("auth", "mapper", "exporter", "webhooks")
}
TESTKIT_MIGRATIONS = ROOT / "tests" / "helpers" / "testkit_migrations"
QBO_LIMITS_MIGRATIONS = ROOT / "shared" / "qbo" / "migrations"
TEST_NAMESPACE_PATTERN = r"^t[0-9a-f]{10}\."
# Namespaces are ``t<session tag><5 hex>.``: the first five hex digits name the pytest process that
# made them, so a run deletes only what dead runs left, never the queues of a run beside it.
SESSION_TAG = uuid.uuid4().hex[:5]
SESSIONS_DIR = Path(os.environ.get("QBB_TEST_SESSIONS_DIR", "/tmp/qbb-test-sessions"))


_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """``preexec_fn`` for a test's child process: SIGTERM it when the pytest process dies.

    A pytest killed by a timeout, a CI runner or Ctrl-C twice runs no fixture finalizers; without
    this its services (and their pools, consumers and polling loops) live on and load every later run.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    """The broker: QBB_AMQP_URL, else local RabbitMQ, else a container; otherwise fail saying so."""
    found = find_broker()
    if found is not None:
        if found.origin == "local":
            announce_session()
            expire_test_queues()
            asyncio.run(delete_queues(found.url, leftover_test_queues()))
        try:
            yield found.url
        finally:
            # What a test left behind (a failure before its own clean-up, a stack it did not delete)
            # goes with the session rather than lingering on the shared broker until it expires.
            asyncio.run(delete_queues(found.url, own_test_queues()))
            (SESSIONS_DIR / SESSION_TAG).unlink(missing_ok=True)
        return
    if not docker_engine_answers():
        pytest.fail(missing_message("broker"), pytrace=False)
    from testcontainers.rabbitmq import RabbitMqContainer

    with RabbitMqContainer("rabbitmq:3.13-management") as rmq:
        params = rmq.get_connection_params()
        yield f"amqp://guest:guest@{params.host}:{params.port}/"


def expire_test_queues() -> None:
    """Queues of test namespaces vanish 15 minutes after their last use (a broker policy).

    Tests that run services as processes cannot always delete what those declared; without
    this, every run would leave its queues behind on a long-lived local broker.
    """
    rabbitmqctl = shutil.which("rabbitmqctl")
    if rabbitmqctl is None:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):  # best effort, like the clean-up below
        subprocess.run(
            [
                rabbitmqctl,
                "set_policy",
                "qbb-test-expiry",
                TEST_NAMESPACE_PATTERN,
                '{"expires":900000}',
                "--apply-to",
                "queues",
            ],
            capture_output=True,
            timeout=30,
            check=False,
        )


def new_namespace() -> str:
    """A namespace of this test session (see ``SESSION_TAG``)."""
    return f"t{SESSION_TAG}{uuid.uuid4().hex[:5]}."


def announce_session() -> None:
    """Say that this process's namespaces are alive (its pid under its tag)."""
    SESSIONS_DIR.mkdir(parents=True, exist_ok=True)
    (SESSIONS_DIR / SESSION_TAG).write_text(str(os.getpid()))


def _session_alive(tag: str) -> bool:
    try:
        pid = int((SESSIONS_DIR / tag).read_text())
    except (OSError, ValueError):
        return False
    return _pid_alive(pid)


def leftover_test_queues() -> list[str]:
    """Queues earlier runs' test namespaces left on a long-lived local broker.

    Hundreds of idle quorum queues expiring in a wave make the broker slow to declare new ones,
    and a run must not depend on what the one before it left.
    """
    names = _test_queues()
    alive = {tag for tag in {n[1:6] for n in names} if tag == SESSION_TAG or _session_alive(tag)}
    return [n for n in names if n[1:6] not in alive]


def own_test_queues() -> list[str]:
    """Queues of this session's namespaces still on the broker."""
    return [n for n in _test_queues() if n[1:6] == SESSION_TAG]


def _test_queues() -> list[str]:
    rabbitmqctl = shutil.which("rabbitmqctl")
    if rabbitmqctl is None:
        return []
    try:
        listed = subprocess.run(
            [rabbitmqctl, "list_queues", "-q", "--no-table-headers", "name"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return []  # best effort: a busy broker keeps its leftovers; the expiry policy removes them
    pattern = re.compile(TEST_NAMESPACE_PATTERN)
    return [n.strip() for n in listed.stdout.splitlines() if pattern.match(n.strip())]


async def delete_queues(amqp_url: str, names: list[str]) -> None:
    """Delete ``names`` (absent ones are no error)."""
    if not names:
        return
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel()
        for name in names:
            await channel.queue_delete(name)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def server_database_url() -> Iterator[str]:
    """A URL of the Postgres server (its default database)."""
    found = find_database()
    if found is not None:
        if found.origin == "local":
            asyncio.run(drop_dead_sessions_databases(found.url))
        yield found.url
        return
    if not docker_engine_answers():
        pytest.fail(missing_message("database"), pytrace=False)
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:15-alpine", driver="asyncpg") as pg:
        yield pg.get_connection_url()


# ``qbb_<tag>_<pid>_<6 hex>``: the pid of the pytest process that made it (see ``fresh_database``).
TEST_DATABASE_PATTERN = re.compile(r"^qbb_[a-z0-9_]+_(\d+)_[0-9a-f]{6}$")


async def drop_dead_sessions_databases(server_database_url: str) -> None:
    """Drop the test databases of pytest processes that are gone (killed before their finalizers).

    Each holds a whole migrated schema set; a run must not depend on what a killed one left.
    """
    maintenance = make_url(server_database_url).set(database="postgres").render_as_string(hide_password=False)
    conn = await asyncpg.connect(asyncpg_dsn(maintenance))
    try:
        for row in await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE 'qbb\\_%'"):
            matched = TEST_DATABASE_PATTERN.match(row["datname"])
            if matched and not _pid_alive(int(matched.group(1))):
                await conn.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
    finally:
        await conn.close()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def fresh_database(server_database_url: str, *, tag: str) -> Iterator[str]:
    """A new database migrated by every service's real migrations, dropped afterwards."""
    name = f"qbb_{tag}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    asyncio.run(_admin(server_database_url, f'CREATE DATABASE "{name}"'))
    url = make_url(server_database_url).set(database=name).render_as_string(hide_password=False)
    try:
        asyncio.run(_migrate_all(url))
        yield url
    finally:
        asyncio.run(_admin(server_database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def database_url(server_database_url: str) -> Iterator[str]:
    """A fresh database for this test session's integration tests."""
    with fresh_database(server_database_url, tag="test") as url:
        yield url


async def _migrate_all(url: str) -> None:
    for schema, path in SERVICE_SCHEMAS.items():
        await migrate(migrations_dir=path, database_url=url, schema=schema)
    await migrate(migrations_dir=QBO_LIMITS_MIGRATIONS, database_url=url, schema="qbo_limits")
    await migrate(migrations_dir=TESTKIT_MIGRATIONS, database_url=url, schema="testkit")


async def _admin(url: str, sql: str) -> None:
    maintenance = make_url(url).set(database="postgres").render_as_string(hide_password=False)
    conn = await asyncpg.connect(asyncpg_dsn(maintenance))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
def namespace() -> str:
    """A prefix for the exchange and queues of one test, so tests never see each other's messages."""
    return new_namespace()
