"""Tenant API keys: how a caller proves which tenant it is, in every service.

Auth issues keys and publishes ``tenant.api_key_issued`` / ``tenant.api_key_revoked`` with the
key's SHA-256 (never the key); every other service mirrors those hashes in its own schema, so a
route authenticates a platform without calling auth. Keys are 256-bit random, so a plain
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
API_KEY_EVENTS = ("tenant.api_key_issued", "tenant.api_key_revoked")


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


async def apply_key_event(session: AsyncSession, table: Table, data: object) -> None:
    """Mirror an issued or revoked key (idempotent; a revoke that arrives first still wins)."""
    if isinstance(data, internal.ApiKeyIssued):
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


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: a tenant (``tenant_id`` set) or the operator (``is_admin``)."""

    tenant_id: str | None
    is_admin: bool = False

    def may_act_for(self, tenant_id: str) -> bool:
        """Admins act for any tenant; a tenant only for itself."""
        return self.is_admin or self.tenant_id == tenant_id

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
        row = (
            await session.execute(
                select(table.c.tenant_id).where(
                    table.c.key_hash == hash_key(key), table.c.revoked_at.is_(None)
                )
            )
        ).first()
        if row is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "unknown or revoked API key",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return Caller(tenant_id=row.tenant_id)

    return caller
