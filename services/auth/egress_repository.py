"""Queries of the HTTP egress (webhook endpoints, deliveries, attempts): ``session`` first; never commits."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Row, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.models import webhook_attempts, webhook_deliveries, webhook_endpoints
from shared.db import inline

endpoints, deliveries, attempts = webhook_endpoints, webhook_deliveries, webhook_attempts


async def insert_endpoint(
    session: AsyncSession, *, platform_id: str, url: str, event_types: list[str], secret_ciphertext: str
) -> str:
    endpoint_id = str(uuid.uuid4())
    await session.execute(
        endpoints.insert().values(
            id=endpoint_id,
            platform_id=platform_id,
            url=url,
            event_types=event_types,
            secret_ciphertext=secret_ciphertext,
        )
    )
    return endpoint_id


async def get_endpoint(session: AsyncSession, *, platform_id: str, endpoint_id: str) -> Row[Any] | None:
    """A live endpoint of ``platform_id`` (another platform's is "not found")."""
    query = select(endpoints).where(
        endpoints.c.id == endpoint_id,
        endpoints.c.platform_id == platform_id,
        endpoints.c.deleted_at.is_(None),
    )
    return (await session.execute(query)).first()


async def delete_endpoint(session: AsyncSession, *, endpoint_id: str) -> None:
    """No further deliveries; its log stays readable for the operator in the database."""
    await session.execute(
        update(endpoints)
        .where(endpoints.c.id == endpoint_id)
        .values(deleted_at=func.now(), updated_at=func.now())
    )
    await session.execute(
        update(deliveries)
        .where(deliveries.c.endpoint_id == endpoint_id, deliveries.c.status == "pending")
        .values(status="failed", next_attempt_at=None, updated_at=func.now())
    )


async def live_endpoints(session: AsyncSession, *, platform_ids: Iterable[str]) -> dict[str, list[Any]]:
    """The webhook endpoints of each of ``platform_ids`` that are not deleted, in one query."""
    wanted = sorted(set(platform_ids))
    if not wanted:
        return {}
    query = select(endpoints.c.platform_id, endpoints.c.id, endpoints.c.event_types).where(
        endpoints.c.platform_id.in_(wanted), endpoints.c.deleted_at.is_(None)
    )
    found: dict[str, list[Any]] = {}
    for row in await session.execute(query):
        found.setdefault(row.platform_id, []).append(row)
    return found


async def stage_delivery(session: AsyncSession, *, endpoint_id: str, envelope: dict[str, Any]) -> None:
    """A pending delivery of one event to one endpoint, due now (a repeat of the event adds nothing)."""
    stmt = insert(deliveries).values(
        id=str(uuid.uuid4()),
        endpoint_id=endpoint_id,
        event_id=envelope["id"],
        event_type=envelope["type"],
        envelope=envelope,
        status="pending",
        next_attempt_at=func.now(),
    )
    await session.execute(stmt.on_conflict_do_nothing())


async def claim_due(session: AsyncSession, *, now: dt.datetime, lease: dt.timedelta, limit: int) -> list[Any]:
    """Due deliveries with their endpoint; each is leased (pushed ``lease`` ahead) so no other
    replica sends it meanwhile, and a sender that dies mid-attempt only delays it."""
    query = (
        select(
            deliveries.c.id,
            deliveries.c.envelope,
            deliveries.c.attempts,
            endpoints.c.url,
            endpoints.c.secret_ciphertext,
        )
        .join(endpoints, endpoints.c.id == deliveries.c.endpoint_id)
        .where(deliveries.c.status == inline("pending"), deliveries.c.next_attempt_at <= now)
        .order_by(deliveries.c.next_attempt_at)
        .limit(limit)
        .with_for_update(of=deliveries, skip_locked=True)
    )
    rows = list((await session.execute(query)).all())
    if rows:
        await session.execute(
            update(deliveries)
            .where(deliveries.c.id.in_([r.id for r in rows]))
            .values(next_attempt_at=now + lease)
        )
    return rows


async def record_attempt(
    session: AsyncSession,
    *,
    delivery_id: str,
    attempt: int,
    status_code: int | None,
    error: str | None,
    duration_ms: int,
    status: str,
    next_attempt_at: dt.datetime | None,
) -> None:
    await session.execute(
        attempts.insert().values(
            delivery_id=delivery_id,
            attempt=attempt,
            status_code=status_code,
            error=error,
            duration_ms=duration_ms,
        )
    )
    await session.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery_id)
        .values(attempts=attempt, status=status, next_attempt_at=next_attempt_at, updated_at=func.now())
    )


async def list_deliveries(session: AsyncSession, *, endpoint_id: str, limit: int) -> list[Any]:
    query = (
        select(deliveries)
        .where(deliveries.c.endpoint_id == endpoint_id)
        .order_by(deliveries.c.created_at.desc())
        .limit(limit)
    )
    return list((await session.execute(query)).all())


async def attempts_of(session: AsyncSession, *, delivery_ids: list[str]) -> list[Any]:
    query = select(attempts).where(attempts.c.delivery_id.in_(delivery_ids)).order_by(attempts.c.id)
    return list((await session.execute(query)).all())


async def send_again(session: AsyncSession, *, endpoint_id: str, delivery_id: str) -> Row[Any] | None:
    """Make a delivery of this endpoint due now (pending again, whatever it was) → it, or None."""
    result = await session.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery_id, deliveries.c.endpoint_id == endpoint_id)
        .values(status="pending", next_attempt_at=func.now(), updated_at=func.now())
        .returning(*deliveries.c)
    )
    return result.first()
