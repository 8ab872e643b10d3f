"""HTTP request and response models of the auth service."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from services.auth import platforms, service
from shared.contracts.common import Currency, Id


class ConnectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant_id: Id
    redirect_after: str | None = Field(
        default=None, max_length=2000, description="Where the browser goes after connecting (http/https URL)."
    )
    expected_currency: Currency | None = Field(
        default=None,
        description="The platform's currency; a company with another home currency stays blocked.",
    )

    @field_validator("redirect_after")
    @classmethod
    def _absolute_http_url(cls, value: str | None) -> str | None:
        if value is not None and not service.valid_redirect_after(value):
            raise ValueError("redirect_after must be an absolute http(s) URL")
        return value


class ConnectResponse(BaseModel):
    connection_id: str
    authorize_url: str = Field(description="Send the person's browser here to connect QuickBooks.")


class ConnectionOut(BaseModel):
    """A connection as API callers see it: never a token."""

    connection_id: str
    tenant_id: str
    realm_id: str | None
    status: str
    blocked_reason: str | None
    status_reason: str | None
    company: dict[str, Any] | None
    expected_currency: str | None
    connected_at: AwareDatetime | None
    created_at: AwareDatetime
    updated_at: AwareDatetime
    access_token_expires_at: AwareDatetime | None = None
    refresh_token_expires_at: AwareDatetime | None = None
    refresh_token_hard_expires_at: AwareDatetime | None = None
    hard_expiry_soon: bool = Field(
        default=False,
        description="The 5-year refresh-token limit is near: a person must reconnect before it.",
    )
    reconnect_url: str | None = None


class ConnectionList(BaseModel):
    connections: list[ConnectionOut]


class ProfileRefreshed(BaseModel):
    connection: ConnectionOut
    changed: list[str]


class AccessTokenOut(BaseModel):
    """For qbo-bridge services only (the one place a token leaves auth)."""

    access_token: str
    realm_id: str
    api_base: str
    expires_at: dt.datetime


class ApiKeyOut(BaseModel):
    key_id: str
    tenant_id: str
    key: str = Field(description="Shown once; only its hash is stored.")


class Problem(BaseModel):
    detail: str
    status: str | None = None


class PlatformIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    platform_id: str = Field(pattern=platforms.PLATFORM_ID_PATTERN, description="e.g. acme-billing")
    tenants: list[Annotated[str, Field(pattern=platforms.TENANT_ID_PATTERN)]] = Field(
        default_factory=list, max_length=10_000
    )

    @field_validator("platform_id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if platforms.reserved_platform_id(value):
            raise ValueError(f"{value!r} is reserved: the bridge's own queues and exchanges begin with it")
        return value


class PlatformAmqp(BaseModel):
    url: str = Field(description="The broker with the platform's own user and password (shown once).")
    ingress_exchange: str
    egress_exchange: str
    routing_key_prefix: str
    queue_prefix: str = Field(description="Queues the platform declares must be named with this prefix.")


class PlatformOut(BaseModel):
    platform_id: str
    api_key: str = Field(
        description="Works on every HTTP route for each of the platform's tenants (shown once)."
    )
    amqp: PlatformAmqp


class PlatformTenantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant_id: str = Field(pattern=platforms.TENANT_ID_PATTERN)


class PlatformTenantOut(BaseModel):
    platform_id: str
    tenant_id: str


class WebhookEndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2000, description="Where deliveries are POSTed (http/https).")
    event_types: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=1, description="Event types, or patterns such as sync.* and qbo.*.changed."
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not service.valid_redirect_after(value):
            raise ValueError("url must be an absolute http(s) URL")
        return value


class WebhookEndpointOut(BaseModel):
    endpoint_id: str
    secret: str = Field(description="The Standard Webhooks signing secret (whsec_…), shown once.")


class WebhookAttemptOut(BaseModel):
    attempt: int
    status_code: int | None
    error: str | None
    duration_ms: int
    attempted_at: dt.datetime


class WebhookDeliveryOut(BaseModel):
    delivery_id: str
    event_id: str
    event_type: str
    status: str = Field(description="pending, succeeded, or failed (every scheduled attempt failed)")
    attempts: int
    next_attempt_at: dt.datetime | None
    created_at: dt.datetime
    log: list[WebhookAttemptOut]


class WebhookDeliveryList(BaseModel):
    deliveries: list[WebhookDeliveryOut]


class PlatformListed(BaseModel):
    """A registered platform as the operator's listing shows it (no secrets)."""

    platform_id: str
    created_at: dt.datetime
    tenants: list[str]
    live_keys: int


class TenantListed(BaseModel):
    """A tenant any connection, key or platform names: its owner and what it has."""

    tenant_id: str
    platform_id: str | None = Field(default=None, description="The platform that owns it, if any")
    connections: int = Field(description="Connections not revoked")
    live_keys: int


class ApiKeyListed(BaseModel):
    """One of a tenant's keys: its id and dates (the key itself is never shown again)."""

    key_id: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None = None
