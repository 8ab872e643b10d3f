"""Queries of the auth service: `session` first, keyword-only after; never commits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any

from sqlalchemy import Row, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.models import (
    api_keys,
    connections,
    oauth_states,
    platform_keys,
    platform_tenants,
    platforms,
    tokens,
)
from shared.apikeys import platform_of_tenant

# ---------------------------------------------------------------- connections


async def insert_pending_connection(
    session: AsyncSession,
    *,
    connection_id: str,
    tenant_id: str,
    expected_currency: str | None,
    redirect_after: str | None,
) -> None:
    """A new pending connection, unless the tenant already has a live one (then nothing)."""
    stmt = insert(connections).values(
        id=connection_id,
        tenant_id=tenant_id,
        status="pending",
        expected_currency=expected_currency,
        redirect_after=redirect_after,
    )
    await session.execute(
        stmt.on_conflict_do_nothing(index_elements=["tenant_id"], index_where=text("status <> 'revoked'"))
    )


async def live_connection(session: AsyncSession, *, tenant_id: str) -> Row[Any] | None:
    """The tenant's connection that is not revoked, if any."""
    query = select(connections).where(connections.c.tenant_id == tenant_id, connections.c.status != "revoked")
    return (await session.execute(query)).first()


async def live_connections_for_realm(session: AsyncSession, *, realm_id: str) -> list[Row[Any]]:
    query = select(connections).where(connections.c.realm_id == realm_id, connections.c.status != "revoked")
    return list((await session.execute(query)).all())


async def get_connection(
    session: AsyncSession, *, connection_id: str, for_update: bool = False
) -> Row[Any] | None:
    query = select(connections).where(connections.c.id == connection_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).first()


async def list_connections(session: AsyncSession, *, tenant_id: str | None) -> list[Row[Any]]:
    query = select(connections).order_by(connections.c.created_at)
    if tenant_id is not None:
        query = query.where(connections.c.tenant_id == tenant_id)
    return list((await session.execute(query)).all())


async def update_connection(session: AsyncSession, *, connection_id: str, **values: Any) -> None:
    await session.execute(
        update(connections).where(connections.c.id == connection_id).values(**values, updated_at=func.now())
    )


async def note_status_reason(session: AsyncSession, *, connection_id: str, reason: str) -> bool:
    """Set ``status_reason``; False when it already said exactly that."""
    result = await session.execute(
        update(connections)
        .where(connections.c.id == connection_id, connections.c.status_reason.is_distinct_from(reason))
        .values(status_reason=reason, updated_at=func.now())
        .returning(connections.c.id)
    )
    return result.first() is not None


async def clear_status_reason(session: AsyncSession, *, connection_id: str, reason: str) -> None:
    """Forget ``status_reason`` if it is ``reason`` (a note that no longer holds)."""
    await session.execute(
        update(connections)
        .where(connections.c.id == connection_id, connections.c.status_reason == reason)
        .values(status_reason=None, updated_at=func.now())
    )


# ---------------------------------------------------------------- oauth states


async def insert_state(
    session: AsyncSession,
    *,
    state_hash: str,
    connection_id: str,
    expires_at: dt.datetime,
    browser_hash: str | None = None,
) -> None:
    await session.execute(
        oauth_states.insert().values(
            state_hash=state_hash,
            connection_id=connection_id,
            expires_at=expires_at,
            browser_hash=browser_hash,
        )
    )


async def bind_browser(session: AsyncSession, *, state_hash: str, browser_hash: str) -> None:
    await session.execute(
        update(oauth_states).where(oauth_states.c.state_hash == state_hash).values(browser_hash=browser_hash)
    )


async def get_state(session: AsyncSession, *, state_hash: str) -> Row[Any] | None:
    """The state row, locked: two callbacks with one state must not both pass."""
    query = select(oauth_states).where(oauth_states.c.state_hash == state_hash).with_for_update()
    return (await session.execute(query)).first()


async def mark_state_used(session: AsyncSession, *, state_hash: str, now: dt.datetime) -> None:
    await session.execute(
        update(oauth_states).where(oauth_states.c.state_hash == state_hash).values(used_at=now)
    )


async def delete_states_expired_before(session: AsyncSession, *, before: dt.datetime) -> int:
    result = await session.execute(delete(oauth_states).where(oauth_states.c.expires_at < before))
    return int(getattr(result, "rowcount", 0) or 0)


# ---------------------------------------------------------------- tokens


async def get_tokens(
    session: AsyncSession, *, connection_id: str, for_update: bool = False
) -> Row[Any] | None:
    """The connection's token row; ``for_update`` waits for (and then sees) a refresh in flight."""
    query = select(tokens).where(tokens.c.connection_id == connection_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).first()


async def save_tokens(session: AsyncSession, *, connection_id: str, values: dict[str, Any]) -> None:
    """Insert or replace the connection's tokens (both tokens in one statement, so never half-saved)."""
    stmt = insert(tokens).values(connection_id=connection_id, **values)
    changed = {**{k: stmt.excluded[k] for k in values}, "updated_at": func.now()}
    await session.execute(stmt.on_conflict_do_update(index_elements=["connection_id"], set_=changed))


async def update_tokens(session: AsyncSession, *, connection_id: str, values: dict[str, Any]) -> None:
    await session.execute(
        update(tokens).where(tokens.c.connection_id == connection_id).values(**values, updated_at=func.now())
    )


async def delete_tokens(session: AsyncSession, *, connection_id: str) -> None:
    await session.execute(delete(tokens).where(tokens.c.connection_id == connection_id))


async def connections_due_for_refresh(
    session: AsyncSession, *, before: dt.datetime, client_id: str, limit: int
) -> list[str]:
    """Active connections of this Intuit app whose access token expires before ``before``."""
    query = (
        select(tokens.c.connection_id)
        .join(connections, connections.c.id == tokens.c.connection_id)
        .where(
            connections.c.status == "active",
            tokens.c.access_expires_at < before,
            tokens.c.client_id == client_id,
        )
        .order_by(tokens.c.access_expires_at)
        .limit(limit)
    )
    return [str(v) for v in (await session.execute(query)).scalars()]


async def hard_expiries_to_warn(session: AsyncSession, *, before: dt.datetime) -> list[Row[Any]]:
    """Connections whose refresh token hard-expires before ``before`` and were not warned about yet."""
    query = (
        select(
            connections.c.id,
            connections.c.tenant_id,
            connections.c.realm_id,
            tokens.c.refresh_hard_expires_at,
        )
        .join(tokens, tokens.c.connection_id == connections.c.id)
        .where(tokens.c.refresh_hard_expires_at < before, tokens.c.hard_expiry_warned_at.is_(None))
        .with_for_update(of=tokens, skip_locked=True)
    )
    rows: list[Any] = list((await session.execute(query)).all())
    return rows


async def mark_hard_expiry_warned(session: AsyncSession, *, connection_id: str, now: dt.datetime) -> None:
    await session.execute(
        update(tokens).where(tokens.c.connection_id == connection_id).values(hard_expiry_warned_at=now)
    )


async def token_rows_not_under(
    session: AsyncSession, *, key_id: str, skip: Collection[str], limit: int
) -> list[Row[Any]]:
    """Token rows encrypted under another key than ``key_id`` (locked, skipping busy ones)."""
    query = select(tokens).where(tokens.c.key_id != key_id)
    if skip:
        query = query.where(tokens.c.connection_id.not_in(list(skip)))
    rows: list[Any] = list(
        (await session.execute(query.limit(limit).with_for_update(skip_locked=True))).all()
    )
    return rows


# ---------------------------------------------------------------- api keys


async def insert_api_key(session: AsyncSession, *, key_id: str, tenant_id: str, key_hash: str) -> None:
    await session.execute(api_keys.insert().values(key_id=key_id, tenant_id=tenant_id, key_hash=key_hash))


async def revoke_api_key(session: AsyncSession, *, tenant_id: str, key_id: str) -> bool:
    """Revoke the tenant's key; False when it has no such live key."""
    result = await session.execute(
        update(api_keys)
        .where(
            api_keys.c.key_id == key_id, api_keys.c.tenant_id == tenant_id, api_keys.c.revoked_at.is_(None)
        )
        .values(revoked_at=func.now())
    )
    return bool(getattr(result, "rowcount", 0))


# ---------------------------------------------------------------- platforms


async def insert_platform(
    session: AsyncSession, *, platform_id: str, rabbitmq_user: str, key_id: str, key_hash: str
) -> bool:
    """A new platform and its key; False when the id is taken."""
    stmt = insert(platforms).values(platform_id=platform_id, rabbitmq_user=rabbitmq_user)
    created = (
        await session.execute(stmt.on_conflict_do_nothing().returning(platforms.c.platform_id))
    ).first()
    if created is None:
        return False
    await session.execute(
        platform_keys.insert().values(key_id=key_id, platform_id=platform_id, key_hash=key_hash)
    )
    return True


async def platform_exists(session: AsyncSession, *, platform_id: str) -> bool:
    found = await session.execute(
        select(platforms.c.platform_id).where(platforms.c.platform_id == platform_id)
    )
    return found.first() is not None


async def claim_tenant(session: AsyncSession, *, platform_id: str, tenant_id: str) -> str:
    """Give ``tenant_id`` to ``platform_id`` unless owned → the owner now (compare to see who won)."""
    await session.execute(
        insert(platform_tenants).values(tenant_id=tenant_id, platform_id=platform_id).on_conflict_do_nothing()
    )
    return await owner_of_tenant(session, tenant_id=tenant_id) or platform_id


async def owner_of_tenant(session: AsyncSession, *, tenant_id: str) -> str | None:
    return await platform_of_tenant(session, api_keys, tenant_id)


# ---------------------------------------------------------------- the operator's listings


async def list_platforms(session: AsyncSession) -> list[Any]:
    """Every platform with its tenants (sorted) and its live keys, oldest first."""
    tenants = (
        select(func.coalesce(func.array_agg(platform_tenants.c.tenant_id.distinct()), text("'{}'")))
        .where(platform_tenants.c.platform_id == platforms.c.platform_id)
        .scalar_subquery()
    )
    live_keys = (
        select(func.count())
        .where(platform_keys.c.platform_id == platforms.c.platform_id, platform_keys.c.revoked_at.is_(None))
        .scalar_subquery()
    )
    query = select(
        platforms.c.platform_id,
        platforms.c.created_at,
        tenants.label("tenants"),
        live_keys.label("live_keys"),
    ).order_by(platforms.c.created_at, platforms.c.platform_id)
    return list((await session.execute(query)).all())


async def list_tenants(session: AsyncSession, *, limit: int) -> list[Any]:
    """Every tenant anything names (a connection, a key or a platform), with its owner and counts."""
    known = (
        select(connections.c.tenant_id.label("tenant_id"))
        .union(select(api_keys.c.tenant_id), select(platform_tenants.c.tenant_id))
        .subquery()
    )
    live_connections = (
        select(func.count())
        .where(connections.c.tenant_id == known.c.tenant_id, connections.c.status != "revoked")
        .scalar_subquery()
    )
    live_keys = (
        select(func.count())
        .where(api_keys.c.tenant_id == known.c.tenant_id, api_keys.c.revoked_at.is_(None))
        .scalar_subquery()
    )
    query = (
        select(
            known.c.tenant_id,
            platform_tenants.c.platform_id,
            live_connections.label("connections"),
            live_keys.label("live_keys"),
        )
        .outerjoin(platform_tenants, platform_tenants.c.tenant_id == known.c.tenant_id)
        .order_by(known.c.tenant_id)
        .limit(limit)
    )
    return list((await session.execute(query)).all())


async def list_api_keys(session: AsyncSession, *, tenant_id: str) -> list[Any]:
    """A tenant's keys (ids and dates, never hashes), newest first."""
    query = (
        select(api_keys.c.key_id, api_keys.c.created_at, api_keys.c.revoked_at)
        .where(api_keys.c.tenant_id == tenant_id)
        .order_by(api_keys.c.created_at.desc())
    )
    return list((await session.execute(query)).all())
