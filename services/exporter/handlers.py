"""Broker subscriptions of the exporter service."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from services.exporter import models, repository, service
from shared.apikeys import API_KEY_EVENTS, apply_key_event
from shared.connections import CONNECTION_EVENTS, apply_connection_event, connection_statuses
from shared.contracts.common import Contract
from shared.contracts.internal import ExportRequested
from shared.messaging.router import Context, Router

log = logging.getLogger(__name__)
router = Router()


@router.subscribe_batches(queue="exporter.exports", routing_keys=["qbo.export.requested"])
async def on_export_requested(requests: list[tuple[ExportRequested, Context[Any]]]) -> None:
    """qbo.export.requested → recorded jobs, queued or parked until their dependencies or connection;
    a batch of requests at a time, in delivery order, with one statement each for their links, their
    connections, the jobs and what waited for their objects' creation."""
    if not requests:
        return
    session, settings = requests[0][1].session, requests[0][1].deps.settings
    needs = [(data, ctx, service.dependencies(data)) for data, ctx in requests]
    keys = {(data.connection_id, d["entity"], d["platform_id"]) for data, _, deps in needs for d in deps}
    keys |= {
        (data.connection_id, data.entity, data.platform_id)
        for data, _ in requests
        if data.operation == "create"
    }
    linked = await repository.linked_across(session, keys=keys)
    statuses = await connection_statuses(
        session, models.connections, connection_ids=[data.connection_id for data, _ in requests]
    )
    rows = []
    for data, ctx, deps in needs:
        unmet = [d for d in deps if (data.connection_id, d["entity"], d["platform_id"]) not in linked]
        values = service.job_values(data, tenant_id=ctx.envelope.tenantid, depends_on=deps)
        # The consuming span's context: the QBO write (and its sync.* event) continue this trace.
        values["traceparent"], values["tracestate"] = (
            ctx.trace.get("traceparent"),
            ctx.trace.get("tracestate"),
        )
        values["status"], values["park_reason"], values["last_error"] = service.initial_status(
            connection_status=statuses.get(data.connection_id), unmet=unmet
        )
        values["wait_until"] = (
            dt.datetime.now(dt.UTC) + dt.timedelta(seconds=settings.wait_limit_seconds)
            if values["status"] == "parked"
            else None
        )
        rows.append(values)
    recorded = await repository.insert_jobs(session, rows=rows)
    # What arrived before a create (an update, a void) now has its object coming. Not for an object
    # already in QBO (a customer upserted with each invoice): nothing can wait for its creation, since
    # writes park for a create only while none is recorded and end "not in QBO" only while it has no
    # link; and its lock, held to commit, made each such event of a realm wait for the one before it
    # (pg_stat_statements: 37 ms of lock wait per call in the benchmark).
    created = [
        (data.connection_id, (data.entity, data.platform_id), data.event_time or dt.datetime.now(dt.UTC))
        for (data, _, _), values in zip(needs, rows, strict=True)
        if values["id"] in recorded
        and data.operation == "create"
        and (data.connection_id, data.entity, data.platform_id) not in linked
    ]
    await repository.creations_arrived(session, created=created)
    for values in rows:
        log.info("export recorded", extra={"job_id": values["id"], "status": values["status"]})


@router.subscribe(queue="exporter.connections", routing_keys=CONNECTION_EVENTS)
async def on_connection_event(data: Contract, ctx: Context[Any]) -> None:
    """connection.* → this service's view of the connection; its jobs parked or resumed to match."""
    status = await apply_connection_event(
        ctx.session, models.connections, data, occurred_at=ctx.envelope.time
    )
    connection_id = str(getattr(data, "connection_id", ""))
    if status == "active":
        # The same tenant and company under a new connection id: the old connections' work moves over.
        await repository.adopt_reconnected(
            ctx.session,
            connection_id=connection_id,
            tenant_id=str(getattr(data, "tenant_id", "")),
            realm_id=str(getattr(data, "realm_id", "")),
        )
        resumed = await repository.resume_connection(ctx.session, connection_id=connection_id)
        if resumed:
            await repository.notify(ctx.session)
    else:
        note = f"waiting: the QuickBooks connection is {status}"
        await repository.park_connection(
            ctx.session,
            connection_id=connection_id,
            note=note,
            wait_seconds=ctx.deps.settings.wait_limit_seconds,
        )
    log.info("connection updated", extra={"status": status, "event_type": ctx.envelope.type})


@router.subscribe(queue="exporter.api-keys", routing_keys=API_KEY_EVENTS)
async def on_api_key_event(data: Contract, ctx: Context[Any]) -> None:
    """tenant.api_key_* → this service's mirror of key hashes, used to authenticate platforms."""
    await apply_key_event(ctx.session, models.api_keys, data)
