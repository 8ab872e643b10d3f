"""Alembic environment of the ``auth`` schema."""

from services.auth.models import metadata
from shared.migrations_env import run

run(metadata)
