"""Alembic environment of the ``mapper`` schema."""

from services.mapper.models import metadata
from shared.migrations_env import run

run(metadata)
