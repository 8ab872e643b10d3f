"""Queries of bulk batches (architecture §5b): `session` first, keyword-only after; never commits."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.mapper import models


async def create_batch(
    session: AsyncSession,
    *,
    batch_id: str,
    tenant_id: str,
    total: int,
    rejected_lines: int,
    created_by: str | None,
    events: list[dict[str, Any]],
) -> None:
    """The batch and its accepted lines (``line``, ``event_id``, ``object_type`` each)."""
    await session.execute(
        insert(models.batches).values(
            batch_id=batch_id,
            tenant_id=tenant_id,
            total=total,
            rejected_lines=rejected_lines,
            created_by=created_by,
        )
    )
    rows = [{**e, "batch_id": batch_id, "tenant_id": tenant_id} for e in events]
    for start in range(0, len(rows), 1000):  # bounded statements for 10,000 lines
        await session.execute(insert(models.batch_events), rows[start : start + 1000])
    # A file loaded again (after fixing its rejected lines): events an earlier batch already saw
    # written have no second effect and no second result, so they keep the result they had.
    t, earlier = models.batch_events, models.batch_events.alias("earlier")
    await session.execute(
        update(t)
        .where(
            t.c.batch_id == batch_id,
            earlier.c.tenant_id == t.c.tenant_id,
            earlier.c.event_id == t.c.event_id,
            earlier.c.batch_id != batch_id,
            earlier.c.export_outcome.is_not(None),
        )
        .values(export_outcome=earlier.c.export_outcome)
    )


async def record_export_outcome(
    session: AsyncSession, *, tenant_id: str, event_id: str, object_type: str, outcome: str
) -> int:
    """The exporter's outcome of a batched event: its own object's result decides; a failed
    dependency (the customer of an invoice) marks it failed until its own object succeeds."""
    t = models.batch_events
    own = t.c.object_type == object_type
    if outcome == "failed":
        own = or_(own, t.c.export_outcome.is_(None))
    result = await session.execute(
        update(t)
        .where(and_(t.c.tenant_id == tenant_id, t.c.event_id == event_id, own))
        .values(export_outcome=outcome, updated_at=func.now())
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def batch_outcomes(
    session: AsyncSession, *, batch_id: str
) -> tuple[dict[str, Any], list[tuple[str | None, str | None, int]]] | None:
    """The batch's row and, per (exporter outcome, mapper outcome), how many of its events."""
    b = models.batches
    found = (await session.execute(select(b).where(b.c.batch_id == batch_id))).first()
    if found is None:
        return None
    t, pe = models.batch_events, models.platform_events
    joined = t.outerjoin(pe, and_(pe.c.tenant_id == t.c.tenant_id, pe.c.event_id == t.c.event_id))
    rows = await session.execute(
        select(t.c.export_outcome, pe.c.outcome, func.count())
        .select_from(joined)
        .where(t.c.batch_id == batch_id)
        .group_by(t.c.export_outcome, pe.c.outcome)
    )
    return dict(found._mapping), [(e, m, int(n)) for e, m, n in rows.all()]
