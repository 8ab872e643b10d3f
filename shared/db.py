"""Async SQLAlchemy engine, sessions, per-schema metadata and Alembic migrations for one service."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import ColumnElement, MetaData, event, literal, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def inline(value: str) -> ColumnElement[str]:
    """``value`` written into the statement sent, not bound as a parameter: for the condition of
    a partial index (``status == inline("pending")``).

    asyncpg prepares every statement, and after five runs Postgres may plan it once for any
    parameter values. That generic plan cannot prove a partial index's condition from a parameter,
    so it scans the whole table, every row the table ever kept, on each run.
    """
    return literal(value, literal_execute=True)


def schema_metadata(schema: str) -> MetaData:
    """Metadata whose tables all live in ``schema``, with stable constraint names for migrations."""
    return MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


def create_engine(
    database_url: str,
    *,
    application_name: str,
    pool_size: int = 10,
    max_overflow: int | None = None,
    idle_ping_seconds: float = 5.0,
    server_settings: Mapping[str, str] | None = None,
) -> AsyncEngine:
    """An asyncpg engine that names itself to Postgres (visible in pg_stat_activity); its
    connections open with ``server_settings`` (planner settings of a pool kept for one query, say).

    ``max_overflow`` (default twice ``pool_size``) connections beyond the pool are opened when
    busy and closed on return, so a pool smaller than the usual concurrency reconnects all the
    time. A connection is checked with a ping only after it sat idle ``idle_ping_seconds``, not
    on every checkout: one round trip fewer per transaction under load.
    """
    engine = create_async_engine(
        database_url,
        pool_size=pool_size,
        max_overflow=pool_size * 2 if max_overflow is None else max_overflow,
        connect_args={"server_settings": {**(server_settings or {}), "application_name": application_name}},
    )
    _ping_when_idle(engine, idle_ping_seconds)
    return engine


def _ping_when_idle(engine: AsyncEngine, idle_seconds: float) -> None:
    # A connection that sat idle may have been cut (a Postgres restart, a proxy's idle timeout):
    # pinged before use. One in steady use is not: if it broke, its transaction fails, and the
    # pool then replaces every connection opened before the failure (SQLAlchemy's disconnect
    # handling); a consumer retries that message.
    pool, dialect = engine.sync_engine.pool, engine.sync_engine.dialect

    @event.listens_for(pool, "checkin")
    def _idle_from(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < idle_seconds:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the pool retries with a new connection
            raise DisconnectionError("connection lost while idle") from exc


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit (the boundary commits, then reads)."""
    return async_sessionmaker(engine, expire_on_commit=False)


@contextlib.asynccontextmanager
async def autocommit(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session outside any transaction, for reads or a single write: each statement is its own
    transaction, and no BEGIN, COMMIT or ROLLBACK goes to the server (two round trips fewer)."""
    async with sessionmaker() as session:
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        yield session


def asyncpg_dsn(database_url: str) -> str:
    """The plain ``postgresql://`` DSN asyncpg wants, from a SQLAlchemy URL."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def ping(engine: AsyncEngine) -> None:
    """Raise unless the database answers a trivial query."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


def alembic_config(*, migrations_dir: Path, database_url: str, schema: str) -> Config:
    """An Alembic configuration for one service's migrations, built in code (no alembic.ini)."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["schema"] = schema
    return config


async def migrate(*, migrations_dir: Path, database_url: str, schema: str) -> None:
    """Bring ``schema`` up to the newest migration; safe to run from several replicas at once."""
    config = alembic_config(migrations_dir=migrations_dir, database_url=database_url, schema=schema)
    await asyncio.to_thread(command.upgrade, config, "head")


async def wait_for_database(engine: AsyncEngine, *, timeout: float = 30.0) -> None:
    """Wait until the database answers, so a service started with Postgres does not crash-loop."""
    async with asyncio.timeout(timeout):
        while True:
            try:
                await ping(engine)
                return
            except OSError:
                await asyncio.sleep(0.5)
