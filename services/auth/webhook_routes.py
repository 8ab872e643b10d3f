"""HTTP egress endpoints (architecture §5a): a platform's webhook endpoints, deliveries and retries.

The operator (admin key) or the platform itself (its key) manages them; another platform's
endpoints and deliveries are "not found", like another tenant's connections.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from sqlalchemy import Row

from services.auth import egress_repository, schemas, webhook_rules
from services.auth.models import api_keys
from services.auth.platform_routes import DepsDep
from shared.apikeys import Caller, caller_dependency
from shared.http import SessionDep

CallerDep = Annotated[Caller, Depends(caller_dependency(api_keys))]
router = APIRouter(tags=["webhook endpoints"])
BASE = "/v1/platforms/{platform_id}/webhook-endpoints"


def _require_platform(caller: Caller, platform_id: str) -> None:
    if not (caller.is_admin or caller.platform_id == platform_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")


async def _endpoint(session: SessionDep, caller: Caller, platform_id: str, endpoint_id: str) -> Row[object]:
    _require_platform(caller, platform_id)
    found = await egress_repository.get_endpoint(session, platform_id=platform_id, endpoint_id=endpoint_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    return found


@router.post(BASE, status_code=status.HTTP_201_CREATED)
async def create_endpoint(
    platform_id: str, body: schemas.WebhookEndpointIn, caller: CallerDep, session: SessionDep, deps: DepsDep
) -> schemas.WebhookEndpointOut:
    """A new endpoint for the platform's events → its id and signing secret (shown once)."""
    _require_platform(caller, platform_id)
    secret = webhook_rules.new_secret()
    endpoint_id = await egress_repository.insert_endpoint(
        session,
        platform_id=platform_id,
        url=body.url,
        event_types=list(dict.fromkeys(body.event_types)),
        secret_ciphertext=deps.cipher.encrypt(secret),
    )
    return schemas.WebhookEndpointOut(endpoint_id=endpoint_id, secret=secret)


@router.get(f"{BASE}/{{endpoint_id}}/deliveries")
async def list_deliveries(
    platform_id: str,
    endpoint_id: str,
    caller: CallerDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> schemas.WebhookDeliveryList:
    """The endpoint's deliveries, newest first, each with every attempt (status code, error, time)."""
    await _endpoint(session, caller, platform_id, endpoint_id)
    rows = await egress_repository.list_deliveries(session, endpoint_id=endpoint_id, limit=limit)
    logs: dict[str, list[schemas.WebhookAttemptOut]] = {str(r.id): [] for r in rows}
    for a in await egress_repository.attempts_of(session, delivery_ids=list(logs)):
        logs[str(a.delivery_id)].append(schemas.WebhookAttemptOut.model_validate(a, from_attributes=True))
    return schemas.WebhookDeliveryList(deliveries=[_delivery_out(r, logs[str(r.id)]) for r in rows])


@router.post(f"{BASE}/{{endpoint_id}}/deliveries/{{delivery_id}}/retry", status_code=status.HTTP_202_ACCEPTED)
async def retry_delivery(
    platform_id: str, endpoint_id: str, delivery_id: str, caller: CallerDep, session: SessionDep
) -> schemas.WebhookDeliveryOut:
    """Send one delivery again now (whatever its status) → the delivery, pending."""
    await _endpoint(session, caller, platform_id, endpoint_id)
    row = await egress_repository.send_again(session, endpoint_id=endpoint_id, delivery_id=delivery_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    return _delivery_out(row, [])


@router.delete(f"{BASE}/{{endpoint_id}}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_endpoint(platform_id: str, endpoint_id: str, caller: CallerDep, session: SessionDep) -> None:
    """Stop delivering to the endpoint (pending deliveries end as failed)."""
    await _endpoint(session, caller, platform_id, endpoint_id)
    await egress_repository.delete_endpoint(session, endpoint_id=endpoint_id)


def _delivery_out(row: Row[object], log: list[schemas.WebhookAttemptOut]) -> schemas.WebhookDeliveryOut:
    r = row._mapping
    return schemas.WebhookDeliveryOut(
        delivery_id=str(r["id"]),
        event_id=r["event_id"],
        event_type=r["event_type"],
        status=r["status"],
        attempts=r["attempts"],
        next_attempt_at=r["next_attempt_at"],
        created_at=r["created_at"],
        log=log,
    )
