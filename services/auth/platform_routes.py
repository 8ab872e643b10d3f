"""HTTP endpoints of the platform boundary (§5a): registering and listing platforms, tenants and keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status

from services.auth import events, platforms, repository, schemas
from services.auth.broker_admin import BrokerAdminError
from services.auth.deps import AuthDeps
from shared.apikeys import new_key
from shared.http import SessionDep, require_admin
from shared.messaging import topology


def auth_deps(request: Request) -> AuthDeps:
    """The service's ``AuthDeps`` (as in ``routes``; kept here so this module stands alone)."""
    deps: AuthDeps = request.app.state.deps
    return deps


DepsDep = Annotated[AuthDeps, Depends(auth_deps)]
router = APIRouter(tags=["platforms and tenants"], dependencies=[Depends(require_admin)])


async def _add_tenant(session: SessionDep, *, platform_id: str, tenant_id: str) -> None:
    owner = await repository.claim_tenant(session, platform_id=platform_id, tenant_id=tenant_id)
    if owner != platform_id:
        # Which platform owns it is not said: platform ids are not for other platforms to learn.
        raise HTTPException(status.HTTP_409_CONFLICT, f"tenant {tenant_id!r} belongs to another platform")
    await events.platform_tenant_added(session, platform_id=platform_id, tenant_id=tenant_id)


@router.post("/v1/platforms", status_code=status.HTTP_201_CREATED)
async def register_platform(
    body: schemas.PlatformIn, request: Request, session: SessionDep, deps: DepsDep
) -> schemas.PlatformOut:
    """Register a platform (admin) → its API key and its own RabbitMQ credentials, shown once."""
    namespace = deps.settings.amqp_namespace
    grant = platforms.broker_grant(body.platform_id, namespace)
    key_id, key, key_hash = new_key()
    if not await repository.insert_platform(
        session, platform_id=body.platform_id, rabbitmq_user=grant.user, key_id=key_id, key_hash=key_hash
    ):
        raise HTTPException(status.HTTP_409_CONFLICT, f"platform {body.platform_id!r} is already registered")
    await events.platform_registered(session, platform_id=body.platform_id, key_id=key_id, key_hash=key_hash)
    for tenant_id in dict.fromkeys(body.tenants):
        await _add_tenant(session, platform_id=body.platform_id, tenant_id=tenant_id)
    await _declare_platform_exchanges(request, namespace)
    try:
        # Last: a refusal above rolls everything back before a user exists. Should the commit fail
        # after this, registering again resets the same user's password and permissions.
        password = await deps.broker.create_user(grant)
    except BrokerAdminError as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, str(exc), headers={"Retry-After": "5"}
        ) from None
    base = deps.settings.platform_amqp_url or deps.settings.amqp_url
    return schemas.PlatformOut(
        platform_id=body.platform_id,
        api_key=key,
        amqp=schemas.PlatformAmqp(
            url=platforms.amqp_url_for(base, user=grant.user, password=password),
            ingress_exchange=f"{namespace}{topology.INGRESS}",
            egress_exchange=f"{namespace}{topology.EGRESS}",
            routing_key_prefix=f"{body.platform_id}.",
            queue_prefix=f"{namespace}{body.platform_id}.",
        ),
    )


@router.post("/v1/platforms/{platform_id}/tenants", status_code=status.HTTP_201_CREATED)
async def add_platform_tenant(
    platform_id: str, body: schemas.PlatformTenantIn, session: SessionDep
) -> schemas.PlatformTenantOut:
    """Give a tenant to a platform (admin) → 201, or 409 when another platform owns it."""
    if not await repository.platform_exists(session, platform_id=platform_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such platform")
    await _add_tenant(session, platform_id=platform_id, tenant_id=body.tenant_id)
    return schemas.PlatformTenantOut(platform_id=platform_id, tenant_id=body.tenant_id)


async def _declare_platform_exchanges(request: Request, namespace: str) -> None:
    """Platforms may not declare exchanges, so the product makes sure both exist before they connect."""
    channel = await request.app.state.resources.connection.channel()
    try:
        for name in topology.PLATFORM_EXCHANGES:
            await topology.declare_named_exchange(channel, name, namespace)
    finally:
        await channel.close()


@router.get("/v1/platforms")
async def list_platforms(session: SessionDep) -> list[schemas.PlatformListed]:
    """Every registered platform (admin) → its tenants and how many live keys it has."""
    rows = await repository.list_platforms(session)
    return [schemas.PlatformListed.model_validate(dict(r._mapping)) for r in rows]


@router.get("/v1/tenants")
async def list_tenants(
    session: SessionDep, limit: Annotated[int, Query(ge=1, le=5000)] = 1000
) -> list[schemas.TenantListed]:
    """Every tenant a connection, key or platform names (admin) → its owner, connections and keys."""
    rows = await repository.list_tenants(session, limit=limit)
    return [schemas.TenantListed.model_validate(dict(r._mapping)) for r in rows]


@router.get("/v1/tenants/{tenant_id}/api-keys")
async def list_api_keys(tenant_id: str, session: SessionDep) -> list[schemas.ApiKeyListed]:
    """A tenant's API keys (admin) → ids and dates, live and revoked; never the keys."""
    rows = await repository.list_api_keys(session, tenant_id=tenant_id)
    return [schemas.ApiKeyListed.model_validate(dict(r._mapping)) for r in rows]
