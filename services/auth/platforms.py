"""The platform boundary's rules (architecture §5a), pure: ids, broker grants, egress routing keys."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

from shared.contracts.envelope import Envelope
from shared.messaging import topology

PLATFORM_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,40}$"
TENANT_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"

# A platform's broker rights cover every name under ``<platform_id>.``: an id equal to the first part
# of the bridge's own names (its exchanges ``qbo-bridge.*``, the services' queues ``<service>.*``,
# RabbitMQ's ``amq.*``) would hand that platform the bridge's internal traffic.
RESERVED_PLATFORM_IDS = frozenset(
    {topology.EXCHANGE.split(".")[0], "auth", "mapper", "exporter", "webhooks", "console", "sandbox", "amq"}
)


def reserved_platform_id(platform_id: str) -> bool:
    """Whether ``platform_id`` names a prefix of the bridge's own broker objects (refused)."""
    return platform_id in RESERVED_PLATFORM_IDS


# What flows back to a platform on egress: outcomes and what happened in QuickBooks.
EGRESS_TYPES = ("sync.succeeded", "sync.failed", "sync.rejected", "qbo.payment.received")
EGRESS_ROUTING_KEYS = (*EGRESS_TYPES, "qbo.*.changed")


@dataclass(frozen=True, slots=True)
class BrokerGrant:
    """A platform's RabbitMQ user and the permissions that confine it to its prefix.

    ``topic`` maps an exchange to its (write, read) routing-key patterns.
    """

    user: str
    configure: str
    write: str
    read: str
    topic: dict[str, tuple[str, str]]


def broker_user(platform_id: str, namespace: str = "") -> str:
    """The RabbitMQ user of a platform (namespaced, like every name, in tests and parallel stacks)."""
    return f"{namespace}{platform_id}"


def broker_grant(platform_id: str, namespace: str = "") -> BrokerGrant:
    """The permissions of §5a (checked on RabbitMQ 3.10): own-prefixed queues, ingress to write,
    egress to read, routing keys only under ``<platform_id>.``; ``qbo-bridge.events`` never."""
    queues = re.escape(f"{namespace}{platform_id}.")
    ingress = re.escape(f"{namespace}{topology.INGRESS}")
    egress = re.escape(f"{namespace}{topology.EGRESS}")
    keys = f"^{re.escape(platform_id)}\\."
    return BrokerGrant(
        user=broker_user(platform_id, namespace),
        configure=f"^{queues}",
        write=f"^({queues}.*|{ingress})$",
        read=f"^({queues}.*|{egress})$",
        topic={f"{namespace}{topology.INGRESS}": (keys, keys), f"{namespace}{topology.EGRESS}": (keys, keys)},
    )


def amqp_url_for(base_url: str, *, user: str, password: str) -> str:
    """``base_url`` (the broker as platforms reach it) with the platform's credentials in it."""
    parts = urlsplit(base_url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}" + (
        f":{parts.port}" if parts.port else ""
    )
    return urlunsplit((parts.scheme or "amqp", netloc, parts.path or "/", parts.query, ""))


def egress_routing_key(platform_id: str, tenant_id: str, event_type: str) -> str:
    """``<platform_id>.<tenant_id>.<event type>``: what a platform binds its queues to."""
    return f"{platform_id}.{tenant_id}.{event_type}"


def egress_platform(*, announced: str | None, owner: str | None) -> str | None:
    """Which platform an outcome goes to: the one that published its cause (``platformid``, set by
    the bridge from the broker-checked routing key), else the tenant's owner; None: nobody's."""
    return announced or owner


def goes_to_a_platform(envelope: Envelope) -> bool:
    """Whether an event may reach a platform at all: it names a tenant and the tenant's settings do
    not withhold it (``withheld``: the category is off or goes to QuickBooks only)."""
    return envelope.tenantid is not None and envelope.withheld is None
