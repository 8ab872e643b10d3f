"""Async SQLAlchemy engine, sessions, per-schema metadata and Alembic migrations for one service."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def schema_metadata(schema: str) -> MetaData:
    """Metadata whose tables all live in ``schema``, with stable constraint names for migrations."""
    return MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


def create_engine(database_url: str, *, application_name: str, pool_size: int = 10) -> AsyncEngine:
    """An asyncpg engine that names itself to Postgres (visible in pg_stat_activity)."""
    return create_async_engine(
        database_url,
        pool_size=pool_size,
        max_overflow=pool_size * 2,
        pool_pre_ping=True,
        connect_args={"server_settings": {"application_name": application_name}},
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit (the boundary commits, then reads)."""
    return async_sessionmaker(engine, expire_on_commit=False)


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
