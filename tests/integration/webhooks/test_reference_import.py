"""A connection's reference import ends with one ``qbo.reference.imported``, published after its pages."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

import pytest
from aio_pika.abc import AbstractQueue
from sqlalchemy import func, select

from services.webhooks import models, repository, service
from shared.contracts.catalogue import changed_type
from shared.contracts.envelope import Envelope
from shared.db import create_sessionmaker
from tests.helpers.broker import bind_probe, broker_channel
from tests.integration.webhooks.conftest import Stack, stack, wait_until

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

        done, seen = await _until(probe, lambda e: e.type == IMPORTED, timeout=60)
        await _outbox_drained(s)

        assert (done.tenantid, done.realmid) == (tenant_id, realm_id)
        assert done.data["connection_id"] == connection_id
        assert done.data["status"] == "done"
        pages = Counter(ENTITY_OF[e.type] for e in seen if e.data.get("operation") == "Import")
        assert pages["Customer"] > 0
        assert {k: v for k, v in done.data["counts"].items() if v} == dict(pages)
        assert await _rest(probe) == []  # exactly one, and nothing of the import after it


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

        failed, _ = await _until(probe, lambda e: e.type == IMPORTED, timeout=30)
        await _outbox_drained(s)

        assert failed.data["connection_id"] == connection_id
        assert failed.data["status"] == "failed"
        assert "not active" in failed.data["error"]
        job = models.import_jobs
        assert await s.scalar(select(job.c.status).where(job.c.job_id == job_id)) == "failed"
        assert await _rest(probe) == []


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
        await _outbox_drained(s)

        assert await _rest(probe) == []


async def _outbox_drained(s: Stack) -> None:
    """Until the relay has published (and the broker confirmed) everything staged so far."""
    rows = select(func.count()).select_from(models.outbox)
    await wait_until(lambda: _is_zero(s, rows), timeout=30)


async def _quiet(s: Stack, probe: AbstractQueue) -> None:
    """The connection's own import event, if the relay had not sent it yet when ``probe`` was bound, gone."""
    await _outbox_drained(s)
    await _rest(probe)


async def _is_zero(s: Stack, stmt: object) -> bool:
    return bool(await s.scalar(stmt) == 0)


async def _until(
    queue: AbstractQueue, match: Callable[[Envelope], bool], *, timeout: float
) -> tuple[Envelope, list[Envelope]]:
    """Take messages off ``queue`` until one matches (bounded); the queue stays for ``_rest``.

    ``get`` rather than a consumer: cancelling the consumer would delete the auto-delete queue.
    """
    seen: list[Envelope] = []
    async with asyncio.timeout(timeout):
        while True:
            message = await queue.get(no_ack=True, fail=False)
            if message is None:
                await asyncio.sleep(0.05)
                continue
            seen.append(Envelope.model_validate_json(message.body))
            if match(seen[-1]):
                return seen[-1], seen


async def _rest(queue: AbstractQueue) -> list[Envelope]:
    """What is left in ``queue`` now (everything published is routed once the broker confirmed it)."""
    left: list[Envelope] = []
    while (message := await queue.get(no_ack=True, fail=False)) is not None:
        left.append(Envelope.model_validate_json(message.body))
    return left
