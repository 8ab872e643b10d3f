"""HTTP request and response models of the webhooks service."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field


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
    entities: list[str] | None = Field(
        None, description="The entities asked for (all reference lists if null)"
    )
    created_from: datetime | None = None
    created_to: datetime | None = None
    counts: dict[str, int] = Field(default_factory=dict, description="Objects published so far, per entity")


class ImportRequest(BaseModel):
    """Which QBO objects an import publishes: entities (QBO names) created in a date range."""

    entities: list[str] | None = Field(None, min_length=1, description='e.g. ["Invoice", "Payment"]')
    created_from: AwareDatetime | None = Field(None, description="MetaData.CreateTime at or after")
    created_to: AwareDatetime | None = Field(None, description="MetaData.CreateTime at or before")


class CatchUpScheduled(BaseModel):
    connection_id: str
    changed_since: datetime


class UnknownRealm(BaseModel):
    realm_id: str
    changes: int
    first_seen: datetime
    last_seen: datetime
