"""Events the bridge's services exchange among themselves."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from shared.contracts.common import Contract, Id, IsoDate


class CompanyProfile(Contract):
    name: str
    country: str
    home_currency: str
    edition: str = Field(description="QBO OfferingSku, e.g. 'QuickBooks Online Plus'")
    multicurrency: bool = False
    class_tracking: Literal["off", "per_transaction", "per_line"] = "off"
    department_tracking: bool = False
    department_label: str | None = None
    custom_txn_numbers: bool = False
    tax_mode: Literal["us_sales_tax", "vat_gst"] = "us_sales_tax"
    book_close_date: IsoDate | None = None


class ConnectionEstablished(Contract):
    connection_id: Id
    tenant_id: Id
    realm_id: str
    company: CompanyProfile


class ConnectionProfileChanged(ConnectionEstablished):
    changed: list[str] = Field(default_factory=list)


class ConnectionReauthorizationRequired(Contract):
    connection_id: Id
    tenant_id: Id
    realm_id: str
    reason: str


class ConnectionRevoked(Contract):
    connection_id: Id
    tenant_id: Id
    realm_id: str
    reason: str = ""


class Match(Contract):
    field: str
    value: str


class ExportRequested(Contract):
    """``qbo.export.requested``: one write the exporter must make exactly once."""

    connection_id: Id
    realm_id: str
    entity: str
    operation: Literal["create", "update", "void", "delete"]
    match: Match | None = None
    payload: dict[str, Any]
    depends_on: list[dict[str, str]] = Field(default_factory=list)
    source_event_id: Id
    platform_id: Id
    object_type: str | None = None


class ReferenceImported(Contract):
    """``qbo.reference.imported``: a connection's reference import ended (its pages are all published).

    The mapper holds a new connection's platform events until this arrives (bounded), so the first
    invoice maps against the company's real lists. ``counts`` is the objects published per entity.
    """

    connection_id: Id
    realm_id: str
    status: Literal["done", "failed"]
    counts: dict[str, int] = Field(default_factory=dict)
    error: str | None = None


class ApiKeyIssued(Contract):
    """A tenant API key was issued by auth; other services mirror its hash to authenticate callers."""

    key_id: Id
    tenant_id: Id
    key_hash: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the key, hex")


class ApiKeyRevoked(Contract):
    key_id: Id
    tenant_id: Id


class PlatformRegistered(Contract):
    """``platform.registered``: the operator registered a platform; services mirror its key's hash."""

    platform_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,40}$")
    key_id: Id
    key_hash: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the platform key, hex")


class PlatformTenantAdded(Contract):
    """``platform.tenant_added``: a tenant now belongs to a platform (its key may act for it)."""

    platform_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,40}$")
    tenant_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
