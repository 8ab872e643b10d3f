"""Which platform sent an event, and whether it may act for the event's tenant (architecture §5a).

Pure rules. The platform is read from the routing key the broker checked against the publisher's
topic permission (``<platform_id>.<event type>`` on ``qbo-bridge.ingress``), never from the body.
"""

from __future__ import annotations

from services.mapper.mapping import Rejection

INGRESS_QUEUE = "mapper.platform-events"
# Bulk lines (history) go through their own queue, a few at a time, beside the live ones.
HISTORY_QUEUE = "mapper.history-events"
HISTORY_PREFETCH = 4


def ingress_keys(event_types: tuple[str, ...]) -> list[str]:
    """The ingress bindings of the platform-events queue: any platform's prefix, one event type."""
    return [f"*.{t}" for t in event_types]


def publishing_platform(routing_key: str, event_type: str) -> str | None:
    """The platform whose credentials published the event; None for the bridge's own traffic.

    Inside the bridge (the HTTP route, the services) an event travels under its type alone; from
    ingress, under ``<platform_id>.<type>``: a platform id has no dot, so its first word is it.
    """
    if not routing_key or routing_key == event_type:
        return None
    platform, _, rest = routing_key.partition(".")
    return platform if rest else None


def refusal(*, platform: str, owner: str | None, tenant_id: str | None) -> Rejection | None:
    """Why ``platform`` may not send this event, or None when the tenant is one of its own.

    The words are the same whether another platform owns the tenant or none does: a platform
    must not learn which tenants exist elsewhere.
    """
    if tenant_id is not None and owner == platform:
        return None
    return Rejection(
        "tenant_not_owned",
        f"tenant {tenant_id!r} is not one of platform {platform!r}'s tenants; nothing was written",
        hint="send events only for your own tenants, or ask the operator to add this tenant to your "
        "platform (POST auth:/v1/platforms/{platform_id}/tenants)",
    )
