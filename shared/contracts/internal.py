"""Events the bridge's services exchange among themselves."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, Field

from shared.contracts.common import Contract, Id, IsoDate, Money


class CompanyProfile(Contract):
    name: str
    country: str
    home_currency: str
    edition: str = Field(description="QBO OfferingSku, e.g. 'QuickBooks Online Plus'")
    multicurrency: bool = False
    currencies: list[str] | None = Field(
        default=None,
        description="Multicurrency: the foreign currencies active in the company's currency list "
        "(CompanyCurrency); absent when not read",
    )
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


class ReadPathCategory(Contract):
    """One settings category as the read path needs it (the mapper's ``categories.<c>``)."""

    enabled: bool = True
    direction: Literal["to_qbo", "from_qbo", "both", "off"] = "to_qbo"
    start_date: IsoDate | None = None


class ConnectionSettingsChanged(Contract):
    """``connection.settings_changed``: a connection's settings were saved (version ``version``);
    what the read path obeys of them. Categories absent keep their defaults."""

    connection_id: Id
    version: int = Field(ge=1)
    categories: dict[str, ReadPathCategory] = Field(default_factory=dict)


class Match(Contract):
    """How the exporter finds an object QBO may already have: ``field`` equal to ``value``.

    For documents, ``party_field``/``party`` (the CustomerRef or VendorRef, possibly a ``$link``)
    and ``total`` say what a found document must also be to be adopted.
    """

    field: str
    value: str
    party_field: str | None = None
    party: dict[str, Any] | None = None
    total: Money | None = None


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
    event_time: AwareDatetime | None = Field(
        default=None, description="The platform event's time: writes to one object apply in this order"
    )
    after: list[dict[str, str]] = Field(
        default_factory=list,
        description="Writes of the same source event ({entity, platform_id}) that must have ended before "
        "this one starts (delete the payment applying a credit memo, then void the memo)",
    )
    if_absent: Literal["wait", "skip"] = Field(
        default="wait",
        description="An update, void or delete of an object not in QBO yet: wait for its create, or skip",
    )
    lane: Literal["live", "history"] = Field(
        default="live",
        description="history: a bulk backfill's write, taken after the live writes of the same realm",
    )


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
