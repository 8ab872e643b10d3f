"""Tenant and platform API keys: how a caller proves which tenant(s) it acts for, in every service.

Auth issues keys and publishes ``tenant.api_key_issued`` / ``tenant.api_key_revoked`` with the
key's SHA-256 (never the key), and ``platform.registered`` / ``platform.tenant_added`` for a
platform's key and the tenants it owns; every other service mirrors those in its own schema, so a
route authenticates a caller without calling auth. Keys are 256-bit random, so a plain
SHA-256 is enough (a slow password hash protects low-entropy secrets, which these are not).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Column, DateTime, MetaData, String, Table, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import internal
from shared.http import ResourcesDep, SessionDep, bearer_token, secrets_match

KEY_PREFIX = "qbb_"
API_KEY_EVENTS = (
    "tenant.api_key_issued",
    "tenant.api_key_revoked",
    "platform.registered",
    "platform.tenant_added",
)
PLATFORM_KEYS = "platform_keys"
PLATFORM_TENANTS = "platform_tenants"


def new_key() -> tuple[str, str, str]:
    """A fresh ``(key_id, key, key_hash)``; the key itself is shown once and never stored."""
    key_id = secrets.token_hex(8)
    key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    return key_id, key, hash_key(key)


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode()).hexdigest()


def make_api_keys_table(metadata: MetaData) -> Table:
    """``api_keys`` in the calling service's schema (auth's is the source; the others mirror it)."""
    return Table(
        "api_keys",
        metadata,
        Column("key_id", String(32), primary_key=True),
        Column("tenant_id", String(200), nullable=False, index=True),
        Column("key_hash", String(64), nullable=False, unique=True),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("revoked_at", DateTime(timezone=True), nullable=True),
    )


def make_platform_tables(metadata: MetaData) -> tuple[Table, Table]:
    """``platform_keys`` and ``platform_tenants`` beside ``api_keys`` (auth's are the source).

    ``caller_dependency`` finds them by name in the ``api_keys`` table's metadata.
    """
    keys = Table(
        PLATFORM_KEYS,
        metadata,
        Column("key_id", String(32), primary_key=True),
        Column("platform_id", String(64), nullable=False, index=True),
        Column("key_hash", String(64), nullable=False, unique=True),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("revoked_at", DateTime(timezone=True), nullable=True),
    )
    tenants = Table(
        PLATFORM_TENANTS,
        metadata,
        # One owner per tenant: the primary key is what makes "another platform owns it" a 409.
        Column("tenant_id", String(64), primary_key=True),
        Column("platform_id", String(64), nullable=False, index=True),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    return keys, tenants


def _platform_tables(api_keys: Table) -> tuple[Table, Table]:
    schema = f"{api_keys.schema}." if api_keys.schema else ""
    tables = api_keys.metadata.tables
    return tables[f"{schema}{PLATFORM_KEYS}"], tables[f"{schema}{PLATFORM_TENANTS}"]


# A tenant's owner never changes once recorded (the first platform to add it keeps it: rows are only
# inserted, never updated or deleted), so an owner found is kept in process and not read again per
# event. An unknown tenant is asked about each time: its owner may be recorded any moment.
_OWNERS: dict[tuple[str, str, str], str] = {}
_OWNERS_MAX = 100_000


async def platform_of_tenant(session: AsyncSession, api_keys: Table, tenant_id: str | None) -> str | None:
    """The platform that owns ``tenant_id`` in this service's mirror, or None."""
    if not tenant_id:
        return None
    _, tenants = _platform_tables(api_keys)
    key = (str(getattr(session.bind, "url", "")), tenants.fullname, tenant_id)
    if (known := _OWNERS.get(key)) is not None:
        return known
    found = await session.execute(select(tenants.c.platform_id).where(tenants.c.tenant_id == tenant_id))
    owner = found.scalar_one_or_none()
    if owner is not None:
        if len(_OWNERS) >= _OWNERS_MAX:
            _OWNERS.clear()
        _OWNERS[key] = owner
    return owner


async def apply_key_event(session: AsyncSession, table: Table, data: object) -> None:
    """Mirror an issued or revoked key, a platform's key or tenant (idempotent, any order)."""
    if isinstance(data, internal.PlatformRegistered | internal.PlatformTenantAdded):
        await _apply_platform_event(session, table, data)
    elif isinstance(data, internal.ApiKeyIssued):
        stmt = insert(table).values(key_id=data.key_id, tenant_id=data.tenant_id, key_hash=data.key_hash)
        await session.execute(stmt.on_conflict_do_nothing())
    elif isinstance(data, internal.ApiKeyRevoked):
        # A placeholder hash (unique, matches no key) keeps a revoke that overtakes its issue.
        placeholder = f"revoked:{data.key_id}"[:64]
        stmt = insert(table).values(
            key_id=data.key_id, tenant_id=data.tenant_id, key_hash=placeholder, revoked_at=func.now()
        )
        await session.execute(stmt.on_conflict_do_nothing())
        await session.execute(
            update(table).where(table.c.key_id == data.key_id).values(revoked_at=func.now())
        )


async def _apply_platform_event(
    session: AsyncSession, table: Table, data: internal.PlatformRegistered | internal.PlatformTenantAdded
) -> None:
    keys, tenants = _platform_tables(table)
    if isinstance(data, internal.PlatformRegistered):
        stmt = insert(keys).values(key_id=data.key_id, platform_id=data.platform_id, key_hash=data.key_hash)
    else:
        stmt = insert(tenants).values(tenant_id=data.tenant_id, platform_id=data.platform_id)
    await session.execute(stmt.on_conflict_do_nothing())


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: a tenant (``tenant_id``), a platform (``platform_id`` and its ``tenants``)
    or the operator (``is_admin``)."""

    tenant_id: str | None
    is_admin: bool = False
    platform_id: str | None = None
    tenants: frozenset[str] = frozenset()

    def may_act_for(self, tenant_id: str) -> bool:
        """Admins act for any tenant; a tenant only for itself; a platform for each of its tenants."""
        if self.is_admin or self.tenant_id == tenant_id:
            return True
        return self.platform_id is not None and tenant_id in self.tenants

    @property
    def name(self) -> str:
        """How the caller is recorded (e.g. as who changed settings)."""
        if self.is_admin:
            return "admin"
        return self.tenant_id or f"platform:{self.platform_id}"

    def require(self, tenant_id: str) -> None:
        """404 (not 403: another tenant's ids must not even be confirmed) unless allowed."""
        if not self.may_act_for(tenant_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")


_bearer = HTTPBearer(auto_error=False)


def caller_dependency(table: Table) -> Callable[..., Awaitable[Caller]]:
    """A FastAPI dependency resolving the bearer key against ``table`` (a service's ``api_keys``)."""

    async def caller(
        res: ResourcesDep,
        session: SessionDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Caller:
        key = bearer_token(credentials)
        if secrets_match(key, res.settings.admin_api_key.get_secret_value()):
            return Caller(tenant_id=None, is_admin=True)
        found = await _resolve(session, table, hash_key(key))
        if found is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "unknown or revoked API key",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return found

    return caller


async def _resolve(session: AsyncSession, table: Table, key_hash: str) -> Caller | None:
    row = (
        await session.execute(
            select(table.c.tenant_id).where(table.c.key_hash == key_hash, table.c.revoked_at.is_(None))
        )
    ).first()
    if row is not None:
        return Caller(tenant_id=row.tenant_id)
    keys, tenants = _platform_tables(table)
    platform_id = (
        await session.execute(
            select(keys.c.platform_id).where(keys.c.key_hash == key_hash, keys.c.revoked_at.is_(None))
        )
    ).scalar_one_or_none()
    if platform_id is None:
        return None
    owned = await session.execute(select(tenants.c.tenant_id).where(tenants.c.platform_id == platform_id))
    return Caller(tenant_id=None, platform_id=platform_id, tenants=frozenset(owned.scalars()))
