"""HTTP request and response models of the webhooks service."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel


class WebhookAccepted(BaseModel):
    """What Intuit gets back: the body is stored (or was already)."""

    status: Literal["stored", "duplicate"]
    changes: int


class ImportJob(BaseModel):
    job_id: str
    connection_id: str
    kind: Literal["import", "update"]
    status: str
    published: int
    error: str | None = None
    requested_at: datetime
    finished_at: datetime | None = None


class CatchUpScheduled(BaseModel):
    connection_id: str
    changed_since: datetime


class UnknownRealm(BaseModel):
    realm_id: str
    changes: int
    first_seen: datetime
    last_seen: datetime
