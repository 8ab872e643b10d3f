"""HTTP request and response models of the exporter service."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.internal import ExportRequested


class JobOut(BaseModel):
    """One write to QuickBooks and how it went (a line of the sync history)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    seq: int | None = Field(
        default=None, description="Order of creation; pass as before_seq for the next page"
    )
    connection_id: str
    realm_id: str
    object_type: str
    entity: str
    platform_id: str
    operation: str
    source_event_id: str
    status: str = Field(description="queued, running, succeeded, failed, parked or skipped")
    park_reason: str | None = Field(default=None, description="dependency or connection, when parked")
    attempts: int
    in_doubt: bool = Field(description="A write whose outcome was unknown and is resolved by lookup")
    last_error: str | None = Field(default=None, description="What went wrong, in words")
    error_code: str | None = None
    hint: str | None = Field(default=None, description="What to do about it")
    error_category: str | None = None
    retryable: bool | None = None
    qbo_fault: dict[str, Any] | None = None
    intuit_tid: str | None = None
    qbo_id: str | None = None
    qbo_doc_number: str | None = None
    depends_on: list[dict[str, str]] = Field(default_factory=list)
    created_at: dt.datetime
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    updated_at: dt.datetime
    next_attempt_at: dt.datetime | None = None


class JobList(BaseModel):
    jobs: list[JobOut]


class Redriven(BaseModel):
    requeued: int = Field(description="Jobs put back in the queue")


class PreviewIn(BaseModel):
    """Writes as the mapper would request them (``qbo.export.requested`` data), in order."""

    requests: list[ExportRequested] = Field(max_length=40_000)


class VerdictOut(BaseModel):
    action: Literal["create", "update", "link", "reject"]
    qbo_id: str | None
    reason: str


class PreviewOut(BaseModel):
    """What the write path would do with each request, in the same order."""

    verdicts: list[VerdictOut]
