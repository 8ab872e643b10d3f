"""A connection's reference import ends with one ``qbo.reference.imported``, published after its pages."""

from __future__ import annotations

from collections import Counter

import pytest
from aio_pika.abc import AbstractQueue
from sqlalchemy import select

from services.webhooks import models, repository, service
from shared.contracts.catalogue import changed_type
from shared.db import create_sessionmaker
from tests.helpers.broker import bind_probe, broker_channel
from tests.helpers.sandbox import create_company
from tests.integration.webhooks.conftest import Stack, left_in, outbox_drained, stack, take_until, wait_until

pytestmark = pytest.mark.integration
IMPORTED = "qbo.reference.imported"
ENTITY_OF = {changed_type(e): e for e in service.IMPORT_ENTITIES}


async def test_an_import_publishes_its_pages_then_one_reference_imported_with_their_counts(
    database_url: str, amqp_url: str, namespace: str, sandbox_url: str
) -> None:
    async with (
        stack(database_url, amqp_url, namespace, sandbox_url) as s,
        broker_channel(amqp_url) as (_, channel),
    ):
        probe = await bind_probe(channel, namespace, [*ENTITY_OF, IMPORTED])
        tenant_id, connection_id, realm_id = await s.connect_company()

        done, seen = await take_until(probe, lambda e: e.type == IMPORTED, timeout=60)
        await outbox_drained(s)

        assert (done.tenantid, done.realmid) == (tenant_id, realm_id)
        assert done.data["connection_id"] == connection_id
        assert done.data["status"] == "done"
        pages = Counter(ENTITY_OF[e.type] for e in seen if e.data.get("operation") == "Import")
        assert pages["Customer"] > 0
        assert {k: v for k, v in done.data["counts"].items() if v} == dict(pages)
        assert await left_in(probe) == []  # exactly one, and nothing of the import after it


async def test_an_import_for_a_connection_that_is_not_active_reports_failed(
    database_url: str, amqp_url: str, namespace: str, sandbox_url: str
) -> None:
    async with (
        stack(database_url, amqp_url, namespace, sandbox_url) as s,
        broker_channel(amqp_url) as (_, channel),
    ):
        _, connection_id, _ = await s.connect_company()
        probe = await bind_probe(channel, namespace, [IMPORTED])
        await _quiet(s, probe)
        await s.retire()  # revoked in this service's view
        async with create_sessionmaker(s.engine)() as session, session.begin():
            job_id = await repository.create_import_job(session, connection_id=connection_id, kind="import")

        failed, _ = await take_until(probe, lambda e: e.type == IMPORTED, timeout=30)
        await outbox_drained(s)

        assert failed.data["connection_id"] == connection_id
        assert failed.data["status"] == "failed"
        assert "not active" in failed.data["error"]
        job = models.import_jobs
        assert await s.scalar(select(job.c.status).where(job.c.job_id == job_id)) == "failed"
        assert await left_in(probe) == []


async def test_an_update_job_reports_no_reference_imported(
    database_url: str, amqp_url: str, namespace: str, sandbox_url: str
) -> None:
    async with (
        stack(database_url, amqp_url, namespace, sandbox_url) as s,
        broker_channel(amqp_url) as (_, channel),
    ):
        _, connection_id, _ = await s.connect_company()
        probe = await bind_probe(channel, namespace, [IMPORTED])
        await _quiet(s, probe)
        async with create_sessionmaker(s.engine)() as session, session.begin():
            job_id = await repository.create_import_job(session, connection_id=connection_id, kind="update")
        job = models.import_jobs
        ended = select(job.c.status).where(job.c.job_id == job_id, job.c.status.in_(("done", "failed")))

        await wait_until(lambda: s.scalar(ended), timeout=30)
        await outbox_drained(s)

        assert await left_in(probe) == []


async def _quiet(s: Stack, probe: AbstractQueue) -> None:
    """The connection's own import event, if the relay had not sent it yet when ``probe`` was bound, gone."""
    await outbox_drained(s)
    await left_in(probe)


async def test_a_429_during_a_new_companys_import_pauses_it_briefly_not_for_a_minute(
    database_url: str, amqp_url: str, namespace: str, sandbox_url: str
) -> None:
    """QBO throttles the first calls of the import: the realm pauses for a second or two and the
    import goes on (it used to pause the realm for 60 s and retry the whole import a minute later)."""
    async with stack(database_url, amqp_url, namespace, sandbox_url) as s:
        realm_id = await create_company(s.sandbox)
        fault = {"realm_id": realm_id, "throttle_next": 2}
        (await s.sandbox.put("/admin/faults", json=fault)).raise_for_status()
        try:
            # Bounded well under the minute the old pause and the import's own retry took.
            _, connection_id, _ = await s.connect_company(realm_id=realm_id, import_timeout=30)
        finally:
            (await s.sandbox.delete("/admin/faults", params={"realm_id": realm_id})).raise_for_status()
        log = (await s.sandbox.get("/admin/requests", params={"realm_id": realm_id})).json()
        job = models.import_jobs
        status = await s.scalar(select(job.c.status).where(job.c.connection_id == connection_id))

    assert [r["fault_code"] for r in log].count("3001") == 2  # the import really was throttled
    assert status == "done"
