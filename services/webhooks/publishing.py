"""Turning a QBO object (from a webhook fetch, CDC or an import) into events in the outbox.

Every path goes through here, so the version check, echo suppression and payments back apply the
same way whichever path saw the change first.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from services.webhooks import models, repository, service
from services.webhooks.repository import AnyRow
from shared.contracts.bridge import QboEntityChanged, QboPaymentReceived
from shared.contracts.catalogue import changed_type
from shared.messaging.outbox import Outbox

log = logging.getLogger(__name__)

CHANGES_REPORTED = Counter(
    "qbb_webhooks_changes_total", "QBO changes seen, by how they ended", ["entity", "outcome"]
)
_PAYMENT_OPERATIONS = frozenset({"Create", "Update", "Void"})


async def report_object(
    session: AsyncSession,
    *,
    connections: Sequence[AnyRow],
    entity: str,
    entity_data: Mapping[str, Any],
    operation: str,
    force: bool = False,
) -> str:
    """Publish ``qbo.<entity>.changed`` for a fetched object, unless it is old news or our own write.

    ``force`` (imports) publishes whatever the version, still recording it. Returns the outcome.
    """
    realm_id = connections[0].realm_id
    qbo_id = str(entity_data.get("Id"))
    version = service.version_of(entity_data)
    newer = await repository.record_version(
        session, realm_id=realm_id, entity=entity, qbo_id=qbo_id, version=version, deleted=False
    )
    if not (newer or force):
        return _counted(entity, "stale")
    outcomes = []
    for conn in connections:
        if not force and version is not None and await _is_own(session, conn, entity, qbo_id, version):
            continue
        outbox = Outbox(session, models.outbox)
        withheld = await _withheld(session, conn, entity, entity_data)
        outcomes.append("published" if withheld is None else "withheld")
        event = QboEntityChanged(
            entity=entity,
            qbo_id=qbo_id,
            operation=operation,
            entity_data=dict(entity_data),
            connection_id=conn.connection_id,
            realm_id=realm_id,
        )
        await outbox.add(
            changed_type(entity), event, tenant_id=conn.tenant_id, realm_id=realm_id, withheld=withheld
        )
        if operation in _PAYMENT_OPERATIONS:
            await _report_payment(
                session, outbox, conn=conn, entity=entity, entity_data=entity_data, operation=operation
            )
        await _report_project(
            session,
            outbox,
            conn=conn,
            entity=entity,
            entity_data=entity_data,
            operation=operation,
            withheld=withheld,
        )
    outcome = "published" if "published" in outcomes else (outcomes[0] if outcomes else "echo")
    return _counted(entity, outcome)


async def report_own_creations(
    session: AsyncSession, *, realm_id: str, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """Our own creations coming back (``service.own_creations``): nothing to publish, no fetch;
    (entity, id) → outcome.

    The objects are remembered as seen (version unknown, so any version fetched later is newer and
    goes through the checks of ``report_object``), as a fetched echo would be: one statement.
    """
    await repository.record_versions(
        session, realm_id=realm_id, seen=[(entity, qbo_id, None, False) for entity, qbo_id in keys]
    )
    return {(entity, qbo_id): _counted(entity, "echo") for entity, qbo_id in keys}


async def report_deletion(
    session: AsyncSession,
    *,
    connections: Sequence[AnyRow],
    entity: str,
    qbo_id: str,
) -> str:
    """Publish a ``Delete`` (no fetch: the object is gone) unless it was reported already."""
    realm_id = connections[0].realm_id
    first = await repository.record_version(
        session, realm_id=realm_id, entity=entity, qbo_id=qbo_id, version=None, deleted=True
    )
    if not first:
        return _counted(entity, "stale")
    for conn in connections:
        event = QboEntityChanged(
            entity=entity,
            qbo_id=qbo_id,
            operation="Delete",
            connection_id=conn.connection_id,
            realm_id=realm_id,
        )
        outbox = Outbox(session, models.outbox)
        withheld = await _withheld(session, conn, entity, None)
        await outbox.add(
            changed_type(entity), event, tenant_id=conn.tenant_id, realm_id=realm_id, withheld=withheld
        )
        if entity in service.PAYMENT_LINKS:
            await _report_payment_deleted(session, outbox, conn=conn, entity=entity, qbo_id=qbo_id)
    return _counted(entity, "published")


async def _withheld(
    session: AsyncSession, conn: AnyRow, entity: str, entity_data: Mapping[str, Any] | None
) -> str | None:
    """Why this connection's settings keep the change from its platform (the bridge's own services
    still get it: the mapper's reference mirror follows every customer, item and vendor)."""
    categories = await repository.read_categories(session, connection_id=conn.connection_id)
    return service.withheld(entity, entity_data, categories)


async def _is_own(
    session: AsyncSession, conn: AnyRow, entity: str, qbo_id: str, version: service.Version
) -> bool:
    return await repository.is_own_write(
        session,
        connection_id=conn.connection_id,
        entity=entity,
        qbo_id=qbo_id,
        sync_token=version.sync_token,
    )


async def _report_payment(
    session: AsyncSession,
    outbox: Outbox,
    *,
    conn: AnyRow,
    entity: str,
    entity_data: Mapping[str, Any],
    operation: str,
) -> None:
    documents = service.linked_document_ids(entity, entity_data)
    qbo_id = str(entity_data.get("Id"))
    previous = await repository.payment_report(
        session, connection_id=conn.connection_id, entity=entity, qbo_id=qbo_id
    )
    if not documents and previous is None:
        return
    document_entity = service.PAYMENT_LINKS[entity][0]
    known = await repository.platform_ids(
        session, connection_id=conn.connection_id, entity=document_entity, qbo_ids=documents
    )
    payment = service.payment_received(
        entity, entity_data, known, connection_id=conn.connection_id, operation=operation, previous=previous
    )
    if payment is not None:
        await _stage_payment(session, outbox, conn=conn, entity=entity, payment=payment)


async def _report_project(
    session: AsyncSession,
    outbox: Outbox,
    *,
    conn: AnyRow,
    entity: str,
    entity_data: Mapping[str, Any],
    operation: str,
    withheld: str | None,
) -> None:
    """A project (a Customer under its client) also travels as ``qbo.project.changed``, naming the
    client by the platform's id when the bridge wrote or linked that customer."""
    client = service.project_client(entity, entity_data)
    if client is None:
        return
    known = await repository.platform_ids(
        session, connection_id=conn.connection_id, entity="Customer", qbo_ids=[client]
    )
    project = service.project_changed(
        entity_data,
        operation=operation,
        client_platform_id=known.get(client),
        connection_id=conn.connection_id,
        realm_id=conn.realm_id,
    )
    if project is not None:
        await outbox.add(
            "qbo.project.changed",
            project,
            tenant_id=conn.tenant_id,
            realm_id=conn.realm_id,
            withheld=withheld,
        )


async def _report_payment_deleted(
    session: AsyncSession, outbox: Outbox, *, conn: AnyRow, entity: str, qbo_id: str
) -> None:
    """A payment reported before is gone: say so, against the documents it was applied to."""
    previous = await repository.payment_report(
        session, connection_id=conn.connection_id, entity=entity, qbo_id=qbo_id
    )
    if previous is not None:  # never reported (our own write, or applied to nothing): nothing to undo
        await _stage_payment(
            session, outbox, conn=conn, entity=entity, payment=service.payment_deleted(previous)
        )


async def _stage_payment(
    session: AsyncSession, outbox: Outbox, *, conn: AnyRow, entity: str, payment: QboPaymentReceived
) -> None:
    event_id = service.payment_event_id(
        tenant_id=conn.tenant_id,
        realm_id=conn.realm_id,
        entity=entity,
        payment=payment,
    )
    await outbox.add(
        "qbo.payment.received", payment, tenant_id=conn.tenant_id, realm_id=conn.realm_id, event_id=event_id
    )
    await repository.save_payment_report(
        session,
        connection_id=conn.connection_id,
        entity=entity,
        qbo_id=payment.qbo_id,
        payload=payment.model_dump(mode="json", exclude_none=True),
    )


def _counted(entity: str, outcome: str) -> str:
    CHANGES_REPORTED.labels(entity, outcome).inc()
    return outcome
