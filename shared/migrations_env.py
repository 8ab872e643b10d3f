"""The body of every service's Alembic ``env.py``: one schema, its own version table, async engine.

Replicas starting together take a transaction-scoped advisory lock, so only one migrates.
"""

from __future__ import annotations

import asyncio
import zlib

from alembic import context
from sqlalchemy import Connection, MetaData, pool, text
from sqlalchemy.ext.asyncio import create_async_engine


def run(metadata: MetaData) -> None:
    """Run migrations for ``metadata``'s schema (called from a service's ``migrations/env.py``)."""
    schema = metadata.schema
    assert schema, "service metadata must name its schema"
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "alembic config needs sqlalchemy.url"
    asyncio.run(_run_async(url, metadata, schema))


async def _run_async(url: str, metadata: MetaData, schema: str) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": zlib.crc32(schema.encode())})
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            await conn.run_sync(_run_sync, metadata, schema)
    finally:
        await engine.dispose()


def _run_sync(conn: Connection, metadata: MetaData, schema: str) -> None:
    context.configure(
        connection=conn,
        target_metadata=metadata,
        version_table_schema=schema,
        include_schemas=True,
        include_name=lambda name, type_, _parent: type_ != "schema" or name == schema,
    )
    with context.begin_transaction():
        context.run_migrations()
