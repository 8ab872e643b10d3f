"""Only the testkit's outbox relay, as its own process: ``python -m tests.helpers.relay_proc``.

``RELAY_BATCH`` sets the batch size, so a test can kill it part-way through a backlog.
"""

from __future__ import annotations

import asyncio
import os

import aio_pika

from shared.db import create_engine, create_sessionmaker
from shared.messaging.outbox import OutboxRelay
from tests.helpers import testkit


async def _main() -> None:
    settings = testkit.TestkitSettings()
    engine = create_engine(settings.database_url, application_name="qbb-test-relay")
    connection = await aio_pika.connect_robust(settings.amqp_url)
    relay = OutboxRelay(
        sessionmaker=create_sessionmaker(engine),
        connection=connection,
        table=testkit.outbox,
        database_url=settings.database_url,
        namespace=settings.amqp_namespace,
        batch_size=int(os.environ.get("RELAY_BATCH", "200")),
    )
    await relay.run()


if __name__ == "__main__":
    asyncio.run(_main())
