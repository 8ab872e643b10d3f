"""Each service's models and its migrations describe the same tables."""

from __future__ import annotations

import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, MetaData

from shared.db import create_engine

pytestmark = pytest.mark.integration


def _diff(conn: Connection, metadata: MetaData) -> list[object]:
    schema = metadata.schema
    context = MigrationContext.configure(
        conn,
        opts={
            "include_schemas": True,
            "version_table_schema": schema,
            "include_name": lambda name, type_, _p: type_ != "schema" or name == schema,
        },
    )
    return [d for d in compare_metadata(context, metadata) if "alembic_version" not in str(d)]


@pytest.mark.parametrize("service", ["auth", "mapper", "exporter", "webhooks"])
async def test_models_and_migrations_agree(database_url: str, service: str) -> None:
    models = importlib.import_module(f"services.{service}.models")
    engine = create_engine(database_url, application_name="qbb-tests", pool_size=1)
    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(_diff, models.metadata)
    finally:
        await engine.dispose()
    assert differences == [], f"services/{service}: models differ from migrations: {differences}"
