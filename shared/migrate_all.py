"""``python -m shared.migrate_all``: every schema's Alembic migrations, once, before the services start.

The entry point of the Kubernetes migration Job. It needs only ``QBB_DATABASE_URL`` (no other
secret), finds the migration environments by the repository's layout rather than importing the
services (``shared`` never imports a service), and is safe beside starting replicas: each
migration takes the same advisory lock the services take at start.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.db import migrate
from shared.logging import configure_logging
from shared.settings import DEFAULT_DATABASE_URL

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
# Schemas shared by several services come first, as each service migrates its extra schemas
# before its own (``ServiceDefinition.extra_migrations``).
SHARED_ENVIRONMENTS = ((ROOT / "shared" / "qbo" / "migrations", "qbo_limits"),)


class MigrateSettings(BaseSettings):
    """Only the database: the Job that migrates holds no other secret."""

    model_config = SettingsConfigDict(env_prefix="QBB_", extra="ignore", frozen=True)

    database_url: str = DEFAULT_DATABASE_URL
    log_level: str = "INFO"


def environments(root: Path = ROOT) -> list[tuple[Path, str]]:
    """Every (migrations dir, schema): the shared ones, then one per service, by name."""
    services = sorted(p.parent.parent for p in (root / "services").glob("*/migrations/env.py"))
    return [*SHARED_ENVIRONMENTS, *((s / "migrations", s.name) for s in services)]


async def migrate_all(database_url: str) -> list[str]:
    """Bring every schema up to its newest migration; returns the schemas migrated, in order."""
    done: list[str] = []
    for migrations_dir, schema in environments():
        await migrate(migrations_dir=migrations_dir, database_url=database_url, schema=schema)
        log.info("schema migrated", extra={"schema": schema})
        done.append(schema)
    return done


def main() -> None:
    settings = MigrateSettings()
    configure_logging("qbb-migrate", settings.log_level)
    asyncio.run(migrate_all(settings.database_url))


if __name__ == "__main__":
    main()
