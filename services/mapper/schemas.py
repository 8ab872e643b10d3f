"""HTTP request and response models of the mapper service."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field

from services.mapper.sync_settings import SyncSettings


class EventAccepted(BaseModel):
    event_id: str
    status: Literal["accepted", "duplicate"] = Field(
        description="'duplicate' when an event with this id was already accepted (nothing happens twice)"
    )


class ProblemOut(BaseModel):
    path: str = Field(description="JSON path of the field, e.g. $.data.lines[0].quantity")
    message: str


class EventInvalid(BaseModel):
    detail: str
    problems: list[ProblemOut]


class SettingsOut(BaseModel):
    connection_id: str
    version: int = Field(description="0 until the first PUT; send it back in If-Match to avoid lost updates")
    settings: SyncSettings


class SettingsVersion(BaseModel):
    version: int
    changed_by: str | None
    created_at: dt.datetime


class CheckOut(BaseModel):
    name: str
    status: Literal["ok", "warning", "blocking"]
    message: str = Field(description="What was found, in words")
    fix: str = Field(description="How to fix it (empty when ok)")


class ReadinessOut(BaseModel):
    connection_id: str
    status: Literal["ok", "warning", "blocking"] = Field(description="The worst status of any check")
    checks: list[CheckOut]


class ReferenceItem(BaseModel):
    qbo_id: str
    name: str
    active: bool
    data: dict[str, Any]
    updated_at: dt.datetime


class ReferenceOut(BaseModel):
    connection_id: str
    kind: str
    entity: str
    items: list[ReferenceItem]


class PlatformEventOut(BaseModel):
    """What became of one platform event."""

    seq: int
    event_id: str
    type: str
    platform_id: str | None
    outcome: Literal["mapped", "rejected", "skipped", "waiting"]
    code: str | None
    message: str | None
    hint: str | None
    problems: list[dict[str, str]]
    hold_until: dt.datetime | None
    received_at: dt.datetime
    updated_at: dt.datetime


class PlatformEventsOut(BaseModel):
    connection_id: str
    events: list[PlatformEventOut]
    next_before: int | None = Field(None, description="Pass as ?before= for the next (older) page")


class LineRejected(BaseModel):
    line: int = Field(description="1-based line number in the NDJSON body")
    problems: list[ProblemOut]


class BatchAccepted(BaseModel):
    batch_id: str
    accepted: int = Field(description="Lines staged as events (a repeated event id is staged once, ever)")
    rejected: list[LineRejected]


class PlanLine(BaseModel):
    line: int
    action: Literal["create", "update", "link", "reject"]
    entity: str | None = Field(description="The QBO entity written (None for a rejected line)")
    qbo_id: str | None = Field(description="The QBO object a link would adopt")
    reason: str


class DryRun(BaseModel):
    plan: list[PlanLine]


class BatchOut(BaseModel):
    batch_id: str
    total: int
    pending: int
    succeeded: int
    failed: int
    rejected: int
    done: bool
