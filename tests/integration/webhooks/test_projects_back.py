"""Projects made in QBO travel back as ``qbo.project.changed``, naming the client by the platform's id."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shared.contracts.envelope import Envelope
from tests.helpers.broker import bind_probe, broker_channel
from tests.integration.webhooks.conftest import events_until, stack
from tests.integration.webhooks.test_read_path import _exported_customer

pytestmark = pytest.mark.integration
PROJECT = "qbo.project.changed"


def _project(qbo_id: object) -> Callable[[Envelope], bool]:
    return lambda e: e.type == PROJECT and e.data.get("qbo_id") == qbo_id


async def test_a_project_made_in_qbo_reaches_the_platform_with_its_clients_platform_id(
    database_url: str, amqp_url: str, namespace: str, sandbox_url: str
) -> None:
    async with (
        stack(database_url, amqp_url, namespace, sandbox_url) as s,
        broker_channel(amqp_url) as (_, channel),
    ):
        probe = await bind_probe(channel, namespace, [PROJECT])
        tenant_id, connection_id, realm_id = await s.connect_company()
        client = await _exported_customer(s, tenant_id, connection_id, realm_id)  # cus_<id> on the platform
        assert await s.outcome(realm_id, "Customer", str(client["Id"]), timeout=30) == "done:echo"

        project = await s.act(
            realm_id,
            "Customer",
            "create",
            {
                "DisplayName": f"Fit-out {namespace}",
                "ParentRef": {"value": client["Id"]},
                "Job": True,
                "IsProject": True,
            },
        )

        event, _ = await events_until(probe, _project(project["Id"]), timeout=30)
        assert event.tenantid == tenant_id
        assert event.data["operation"] == "Create"
        assert event.data["name"] == f"Fit-out {namespace}"
        assert event.data["client_qbo_id"] == client["Id"]
        assert event.data["client_name"] == client["DisplayName"]
        assert event.data["client_platform_id"] == f"cus_{client['Id']}"
        assert event.data["connection_id"] == connection_id


async def test_a_sub_customer_that_is_no_project_publishes_no_project_event(
    database_url: str, amqp_url: str, namespace: str, sandbox_url: str
) -> None:
    async with (
        stack(database_url, amqp_url, namespace, sandbox_url) as s,
        broker_channel(amqp_url) as (_, channel),
    ):
        probe = await bind_probe(channel, namespace, [PROJECT])
        _, _, realm_id = await s.connect_company()
        parent = await s.act(realm_id, "Customer", "create", {"DisplayName": f"Parent {namespace}"})
        under = {"ParentRef": {"value": parent["Id"]}, "Job": True}
        job = await s.act(realm_id, "Customer", "create", {"DisplayName": f"Job {namespace}", **under})
        project = await s.act(
            realm_id, "Customer", "create", {"DisplayName": f"Proj {namespace}", "IsProject": True, **under}
        )

        # The project came after the job: by its event, anything the job produced was published.
        event, seen = await events_until(probe, _project(project["Id"]), timeout=30)
        assert [e for e in seen if e.data.get("qbo_id") == job["Id"]] == []
        assert event.data.get("client_platform_id") is None  # a client the bridge never wrote
        assert event.data["client_qbo_id"] == parent["Id"]
