"""The ``connection.*`` events auth stages in the outbox, in the transaction of the change."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth import models
from shared.contracts import internal
from shared.messaging.outbox import Outbox


async def established(
    session: AsyncSession, *, connection: Row[Any], realm_id: str, profile: internal.CompanyProfile
) -> None:
    data = internal.ConnectionEstablished(
        connection_id=connection.id, tenant_id=connection.tenant_id, realm_id=realm_id, company=profile
    )
    await _add(session, "connection.established", data, tenant_id=connection.tenant_id, realm_id=realm_id)


async def profile_changed(
    session: AsyncSession, *, connection: Row[Any], profile: internal.CompanyProfile, changed: list[str]
) -> None:
    data = internal.ConnectionProfileChanged(
        connection_id=connection.id,
        tenant_id=connection.tenant_id,
        realm_id=connection.realm_id,
        company=profile,
        changed=changed,
    )
    await _add(
        session,
        "connection.profile_changed",
        data,
        tenant_id=connection.tenant_id,
        realm_id=connection.realm_id,
    )


async def reauthorization_required(session: AsyncSession, *, connection: Row[Any], reason: str) -> None:
    if connection.realm_id is None:
        return  # never connected: nobody else knows this connection
    data = internal.ConnectionReauthorizationRequired(
        connection_id=connection.id,
        tenant_id=connection.tenant_id,
        realm_id=connection.realm_id,
        reason=reason,
    )
    await _add(
        session,
        "connection.reauthorization_required",
        data,
        tenant_id=connection.tenant_id,
        realm_id=connection.realm_id,
    )


async def revoked(session: AsyncSession, *, connection: Row[Any], reason: str) -> None:
    if connection.realm_id is None:
        return
    data = internal.ConnectionRevoked(
        connection_id=connection.id,
        tenant_id=connection.tenant_id,
        realm_id=connection.realm_id,
        reason=reason,
    )
    await _add(
        session, "connection.revoked", data, tenant_id=connection.tenant_id, realm_id=connection.realm_id
    )


async def api_key_issued(session: AsyncSession, *, key_id: str, tenant_id: str, key_hash: str) -> None:
    data = internal.ApiKeyIssued(key_id=key_id, tenant_id=tenant_id, key_hash=key_hash)
    await _add(session, "tenant.api_key_issued", data, tenant_id=tenant_id, realm_id=None)


async def api_key_revoked(session: AsyncSession, *, key_id: str, tenant_id: str) -> None:
    data = internal.ApiKeyRevoked(key_id=key_id, tenant_id=tenant_id)
    await _add(session, "tenant.api_key_revoked", data, tenant_id=tenant_id, realm_id=None)


async def _add(session: AsyncSession, type_: str, data: Any, *, tenant_id: str, realm_id: str | None) -> None:
    await Outbox(session, models.outbox).add(type_, data, tenant_id=tenant_id, realm_id=realm_id)


async def platform_registered(session: AsyncSession, *, platform_id: str, key_id: str, key_hash: str) -> None:
    data = internal.PlatformRegistered(platform_id=platform_id, key_id=key_id, key_hash=key_hash)
    await Outbox(session, models.outbox).add("platform.registered", data)


async def platform_tenant_added(session: AsyncSession, *, platform_id: str, tenant_id: str) -> None:
    data = internal.PlatformTenantAdded(platform_id=platform_id, tenant_id=tenant_id)
    await Outbox(session, models.outbox).add("platform.tenant_added", data, tenant_id=tenant_id)
