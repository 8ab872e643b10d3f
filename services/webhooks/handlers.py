"""Broker subscriptions of the webhooks service."""

from __future__ import annotations

import logging

from services.webhooks import models
from shared.apikeys import API_KEY_EVENTS, apply_key_event
from shared.connections import CONNECTION_EVENTS, apply_connection_event
from shared.contracts.common import Contract
from shared.messaging.router import Context, Router

log = logging.getLogger(__name__)
router = Router()


@router.subscribe(queue="webhooks.connections", routing_keys=CONNECTION_EVENTS)
async def on_connection_event(data: Contract, ctx: Context[None]) -> None:
    """connection.* → this service's view of the connection (active, reauthorization needed, revoked)."""
    status = await apply_connection_event(ctx.session, models.connections, data)
    log.info("connection updated", extra={"status": status, "event_type": ctx.envelope.type})


@router.subscribe(queue="webhooks.api-keys", routing_keys=API_KEY_EVENTS)
async def on_api_key_event(data: Contract, ctx: Context[None]) -> None:
    """tenant.api_key_* → this service's mirror of key hashes, used to authenticate platforms."""
    await apply_key_event(ctx.session, models.api_keys, data)
