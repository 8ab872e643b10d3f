"""The broker grant that confines a platform, and where its outcomes go."""

from __future__ import annotations

import re

from services.auth import platforms
from shared.contracts.envelope import Envelope


def test_the_grant_confines_a_platform_to_its_prefix() -> None:
    grant = platforms.broker_grant("acme", "t123.")
    configure, write, read = (re.compile(p) for p in (grant.configure, grant.write, grant.read))

    assert grant.user == "t123.acme"
    assert configure.match("t123.acme.outcomes")
    assert not configure.match("t123.acmex.outcomes")
    assert not configure.match("t123.qbo-bridge.egress")
    assert write.match("t123.qbo-bridge.ingress")
    assert not write.match("t123.qbo-bridge.events")
    assert not write.match("t123.qbo-bridge.egress")
    assert read.match("t123.qbo-bridge.egress")
    assert not read.match("t123.qbo-bridge.events")
    assert not read.match("t123.other.q")
    ingress_write, _ = grant.topic["t123.qbo-bridge.ingress"]
    _, egress_read = grant.topic["t123.qbo-bridge.egress"]
    assert re.match(ingress_write, "acme.invoice.approved")
    assert not re.match(ingress_write, "other.invoice.approved")
    assert re.match(egress_read, "acme.#")
    assert not re.match(egress_read, "#")


def test_the_platforms_url_carries_its_own_credentials() -> None:
    url = platforms.amqp_url_for("amqp://guest:guest@broker:5672/", user="acme", password="p/w")
    assert url == "amqp://acme:p%2Fw@broker:5672/"


def test_outcomes_go_to_the_publishing_platform_else_the_owner() -> None:
    assert platforms.egress_platform(announced="b", owner="a") == "b"
    assert platforms.egress_platform(announced=None, owner="a") == "a"
    assert platforms.egress_platform(announced=None, owner=None) is None
    assert platforms.egress_routing_key("a", "t1", "sync.succeeded") == "a.t1.sync.succeeded"


def test_no_platform_id_may_name_a_prefix_of_the_bridges_own_queues_or_exchanges() -> None:
    """A platform's grant covers ``<platform_id>.*``: a platform called "mapper" could read and write
    ``mapper.platform-events`` (the bridge's trusted internal traffic) and "qbo-bridge" its exchanges."""
    from services.auth.handlers import router as auth_router
    from services.exporter.handlers import router as exporter_router
    from services.mapper.handlers import router as mapper_router
    from services.webhooks.handlers import router as webhooks_router
    from shared.messaging import topology

    own = {
        s.queue
        for r in (auth_router, mapper_router, exporter_router, webhooks_router)
        for s in r.subscriptions
    }
    own |= {topology.EXCHANGE, topology.INGRESS, topology.EGRESS, topology.UNROUTED, "amq.direct"}
    for name in own:
        first = name.split(".")[0]
        assert platforms.reserved_platform_id(first), name
        assert not re.compile(platforms.broker_grant("acme").configure).match(name)
    assert not platforms.reserved_platform_id("acme-billing")


def test_only_an_event_of_a_tenant_that_its_settings_do_not_withhold_goes_to_a_platform() -> None:
    data = {"entity": "Customer", "qbo_id": "58", "operation": "Update"}
    assert platforms.goes_to_a_platform(Envelope.new("qbo.customer.changed", data, tenant_id="t1"))
    assert not platforms.goes_to_a_platform(Envelope.new("qbo.customer.changed", data))
    withheld = Envelope.new("qbo.customer.changed", data, tenant_id="t1", withheld="customers are off")
    assert not platforms.goes_to_a_platform(withheld)
