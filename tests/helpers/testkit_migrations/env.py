"""Alembic environment of the test-only ``testkit`` schema."""

from shared.migrations_env import run
from tests.helpers.testkit import metadata

run(metadata)
