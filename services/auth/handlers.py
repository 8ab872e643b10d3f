"""Broker subscriptions of the auth service: its commands arrive over its HTTP API; it forwards
each tenant's outcomes to the tenant's platform (auth owns the platform → tenant table)."""

from __future__ import annotations

import logging
from typing import Any

from services.auth import egress_repository, platforms, repository, webhook_rules
from shared.contracts.common import Contract
from shared.messaging import topology
from shared.messaging.router import OUTCOMES_LINGER, Context, Router

log = logging.getLogger(__name__)
router = Router()


@router.subscribe_batches(
    queue="auth.egress",
    routing_keys=platforms.EGRESS_ROUTING_KEYS,
    takes=platforms.goes_to_a_platform,
    linger=OUTCOMES_LINGER,
)
async def on_platform_bound_events(events: list[tuple[Contract, Context[Any]]]) -> None:
    """sync.* / qbo.payment.received / qbo.<entity>.changed → each tenant's platform: its egress
    routing key and a delivery to each of its webhook endpoints that takes the type. An event of no
    tenant, or withheld by the tenant's settings, is passed over before this (no transaction).
    A batch at a time: the platforms' endpoints are read once for all its events."""
    if not events:
        return
    session = events[0][1].session
    targets = []
    for _, ctx in events:
        envelope = ctx.envelope
        assert envelope.tenantid is not None
        owner = await repository.owner_of_tenant(session, tenant_id=envelope.tenantid)
        target = platforms.egress_platform(announced=envelope.platformid, owner=owner)
        if target is None:
            log.debug("no platform for the tenant; not forwarded", extra={"event_type": envelope.type})
        targets.append(target)
    endpoints = await egress_repository.live_endpoints(session, platform_ids={t for t in targets if t})
    for (_, ctx), target in zip(events, targets, strict=True):
        if target is None:
            continue
        envelope = ctx.envelope
        assert envelope.tenantid is not None
        key = platforms.egress_routing_key(target, envelope.tenantid, envelope.type)
        await ctx.outbox.forward(envelope, exchange=topology.EGRESS, routing_key=key)
        body = envelope.model_dump(mode="json", exclude_none=True)
        for endpoint in endpoints.get(target, []):
            if webhook_rules.wants(endpoint.event_types, envelope.type):
                await egress_repository.stage_delivery(session, endpoint_id=endpoint.id, envelope=body)
