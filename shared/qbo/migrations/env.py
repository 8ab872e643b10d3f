"""Alembic environment of the ``qbo_limits`` schema (per-realm QBO call accounting)."""

from shared.migrations_env import run
from shared.qbo.limits import metadata

run(metadata)
