"""A tiny service used to test the platform layer through the real runtime, broker and database.

Its handler applies ``customer.upserted`` (a row in ``testkit.applied``) and announces it with
``sync.succeeded`` through the outbox, so "applied" and "announced" must commit together.
``vendor.upserted`` named "poison" always fails. Run as a process:
``python -m tests.helpers.testkit`` (settings from ``QBB_*``).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import BigInteger, Column, DateTime, Identity, String, Table, func, insert

from shared import runtime
from shared.contracts import bridge, platform
from shared.db import schema_metadata
from shared.messaging.inbox import make_inbox_table
from shared.messaging.outbox import make_outbox_table
from shared.messaging.router import Context, Router
from shared.settings import ServiceSettings

SCHEMA = "testkit"
metadata = schema_metadata(SCHEMA)
inbox = make_inbox_table(metadata)
outbox = make_outbox_table(metadata)
# No unique key on event_id on purpose: a message handled twice shows up as two rows.
applied = Table(
    "applied",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("event_id", String(200), nullable=False),
    Column("platform_id", String(200), nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

router = Router()
FAST_RETRIES = (0.05, 0.1)


@router.subscribe(queue="testkit.customers", routing_keys=["customer.upserted"], retry_delays=FAST_RETRIES)
async def apply_customer(data: platform.CustomerUpserted, ctx: Context[None]) -> None:
    """customer.upserted → a row in applied + sync.succeeded in the outbox, one transaction."""
    await ctx.session.execute(insert(applied).values(event_id=ctx.envelope.id, platform_id=data.customer_id))
    await ctx.outbox.add(
        "sync.succeeded",
        bridge.SyncSucceeded(
            object_type="customer",
            platform_id=data.customer_id,
            qbo_id="1",
            operation="create",
            source_event_id=ctx.envelope.id,
        ),
    )


@router.subscribe(queue="testkit.vendors", routing_keys=["vendor.upserted"], retry_delays=FAST_RETRIES)
async def apply_vendor(data: platform.VendorUpserted, ctx: Context[None]) -> None:
    """vendor.upserted → a row in applied; a vendor named "poison" always fails."""
    if data.name == "poison":
        raise RuntimeError("poison vendor cannot be applied")
    await ctx.session.execute(insert(applied).values(event_id=ctx.envelope.id, platform_id=data.vendor_id))


DEFINITION = runtime.ServiceDefinition(
    name="testkit",
    description="platform-layer test service",
    schema=SCHEMA,
    metadata=metadata,
    migrations_dir=Path(__file__).parent / "testkit_migrations",
    inbox=inbox,
    outbox=outbox,
    router=router,
)


class TestkitSettings(ServiceSettings):
    service_name: str = "qbb-testkit"


if __name__ == "__main__":
    runtime.main(DEFINITION, TestkitSettings)
