"""The CloudEvents 1.0 envelope (structured JSON mode) every message on the broker travels in."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

CONTENT_TYPE = "application/cloudevents+json"
BRIDGE_SOURCE = "qbo-bridge"
_MAX_TRACE_HEADER = 512


class Envelope(BaseModel):
    """A CloudEvents 1.0 event. ``id`` is the idempotency key; ``tenantid`` selects the connection.

    Extension attributes (lowercase, per the CloudEvents naming rule): ``tenantid``, ``realmid``,
    ``correlationid`` (the platform event a chain of events started from), ``causationid`` (the
    event that directly caused this one); ``traceparent`` and ``tracestate``, the W3C trace context
    of the CloudEvents distributed-tracing extension (``shared/tracing.py``); ``platformid`` (the
    platform that published the event a chain started from: set by the bridge from the
    broker-checked routing key or the caller's key, never taken from a platform's body; its
    outcomes go back to that platform only); ``withheld`` (why an event for the bridge's own
    services is not for the platform, e.g. a ``qbo.customer.changed`` while the connection's
    customers sync only to QBO: never forwarded to a platform); ``lane`` (``history`` on the outcome
    of a write in the history lane, i.e. of a bulk batch's line: the mapper follows a batch by these
    alone, and a platform may tell its backfill's outcomes from its live ones).
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    specversion: Literal["1.0"]
    id: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1, max_length=500)
    type: str = Field(min_length=1, max_length=200)
    time: AwareDatetime | None = None
    subject: str | None = Field(default=None, max_length=500)
    tenantid: str | None = Field(default=None, min_length=1, max_length=200)
    realmid: str | None = Field(default=None, max_length=50)
    correlationid: str | None = Field(default=None, max_length=200)
    causationid: str | None = Field(default=None, max_length=200)
    traceparent: str | None = None
    tracestate: str | None = None
    platformid: str | None = Field(default=None, max_length=200)
    withheld: str | None = Field(default=None, max_length=500)
    lane: Literal["history"] | None = None
    datacontenttype: str = "application/json"
    data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("traceparent", "tracestate", mode="before")
    @classmethod
    def _drop_unusable_trace_context(cls, value: object) -> str | None:
        # A broken trace header must never cost the event itself: it is dropped, not refused.
        return value if isinstance(value, str) and 0 < len(value) <= _MAX_TRACE_HEADER else None

    @classmethod
    def new(
        cls,
        type_: str,
        data: BaseModel | dict[str, Any],
        *,
        tenant_id: str | None = None,
        realm_id: str | None = None,
        subject: str | None = None,
        cause: Envelope | None = None,
        source: str = BRIDGE_SOURCE,
        event_id: str | None = None,
        withheld: str | None = None,
        lane: Literal["history"] | None = None,
    ) -> Envelope:
        """A new event; with ``cause`` it inherits the tenant, realm and correlation of its cause."""
        payload = data.model_dump(mode="json", exclude_none=True) if isinstance(data, BaseModel) else data
        return cls(
            specversion="1.0",
            id=event_id or str(uuid.uuid4()),
            source=source,
            type=type_,
            time=datetime.now(UTC),
            subject=subject,
            tenantid=tenant_id or (cause.tenantid if cause else None),
            realmid=realm_id or (cause.realmid if cause else None),
            correlationid=(cause.correlation_id if cause else None),
            causationid=cause.id if cause else None,
            traceparent=cause.traceparent if cause else None,
            tracestate=cause.tracestate if cause else None,
            platformid=cause.platformid if cause else None,
            withheld=withheld,
            lane=lane,
            data=payload,
        )

    @property
    def dedup_key(self) -> str:
        """What makes this event unique for a consumer: its id within its tenant.

        Platforms choose ids, so two tenants may pick the same one; keyed by id alone, one
        tenant's event would be swallowed as a "duplicate" of another's.
        """
        if not self.tenantid:
            return self.id
        key = f"{self.tenantid}/{self.id}"
        return key if len(key) <= 200 else hashlib.sha256(key.encode()).hexdigest()

    @property
    def correlation_id(self) -> str:
        """The id of the event that started this chain (itself when it started one)."""
        return self.correlationid or self.id

    def to_json_bytes(self) -> bytes:
        """Structured-mode CloudEvents JSON."""
        return self.model_dump_json(exclude_none=True).encode()
