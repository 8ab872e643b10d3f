"""Alembic environment of the ``webhooks`` schema."""

from services.webhooks.models import metadata
from shared.migrations_env import run

run(metadata)
