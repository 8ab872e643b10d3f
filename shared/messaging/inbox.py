"""The inbox: event ids a consumer has processed, so a redelivered event has no second effect."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Column, DateTime, MetaData, String, Table, delete, func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession


def make_inbox_table(metadata: MetaData) -> Table:
    """``inbox_messages`` in the service's schema; created by that service's migration."""
    return Table(
        "inbox_messages",
        metadata,
        Column("consumer", String(200), primary_key=True),
        Column("message_id", String(200), primary_key=True),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


async def claim(session: AsyncSession, table: Table, *, consumer: str, message_id: str) -> bool:
    """Record ``message_id`` as processed by ``consumer`` in the caller's transaction.

    Returns True the first time. A concurrent duplicate blocks on the primary key until the
    first transaction ends, then sees the conflict, so two deliveries never both proceed.
    """
    result = await session.execute(
        insert(table)
        .values(consumer=consumer, message_id=message_id)
        .on_conflict_do_nothing()
        .returning(table.c.message_id)
    )
    return result.first() is not None


async def claim_many(
    session: AsyncSession, table: Table, *, consumer: str, message_ids: list[str]
) -> set[str]:
    """``claim`` for several messages in one statement: the ids claimed now (the others are
    duplicates). Ids are inserted in sorted order, so two transactions claiming overlapping sets
    take their keys' locks in one order and never deadlock on each other."""
    wanted = sorted(set(message_ids))
    if not wanted:
        return set()
    rows = [{"consumer": consumer, "message_id": m} for m in wanted]
    return set((await session.execute(_claims(table), rows)).scalars())


@functools.cache
def _claims(table: Table) -> Any:
    """A consumer's inbox claims: built once a table, the message ids going as parameters."""
    return insert(table).on_conflict_do_nothing().returning(table.c.message_id)


async def release(session: AsyncSession, table: Table, *, consumer: str, message_id: str) -> None:
    """Forget ``message_id`` in the caller's transaction, so the same event is processed afresh.

    For an event the consumer refused for a reason the sender can fix (a setting, a mapping):
    the refusal tells the platform to send it again, and a resend with the same id must not be
    taken for a duplicate.

    Also for a message refused without being processed: another sender naming the same tenant
    and id (a platform that does not own the tenant) must not make the real event a duplicate.
    """
    await session.execute(delete(table).where(table.c.consumer == consumer, table.c.message_id == message_id))
