"""Alembic environment of the ``exporter`` schema."""

from services.exporter.models import metadata
from shared.migrations_env import run

run(metadata)
