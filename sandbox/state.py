"""In-memory state of the emulator: apps, companies, OAuth grants, the request log."""

from __future__ import annotations

import collections
import itertools
import secrets
import time
from dataclasses import dataclass, field
from datetime import date, timezone
from decimal import Decimal
from typing import Any

from sandbox.clock import company_tz, iso_ms

# [U] Lifetimes Intuit does not document precisely; all settable through /admin/tokens/settings.
AUTH_CODE_TTL_SECONDS = 300
ACCESS_TOKEN_TTL_SECONDS = 3600
REFRESH_TOKEN_TTL_SECONDS = 8_726_400
REFRESH_TOKEN_HARD_TTL_SECONDS = 5 * 365 * 86_400
REFRESH_ROTATION_SECONDS = 86_400
REFRESH_GRACE_SECONDS = 86_400
# [U] How long requestid values are remembered per realm.
REPLAY_RETENTION_SECONDS = 86_400
REQUEST_LOG_MAX = 500_000


@dataclass
class App:
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    webhook_url: str | None = None
    webhook_verifier_token: str = ""
    webhook_format: str = "legacy"
    name: str = "Sandbox App"

    def public(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "redirect_uris": self.redirect_uris,
            "webhook_url": self.webhook_url,
            "webhook_verifier_token": self.webhook_verifier_token,
            "webhook_format": self.webhook_format,
            "name": self.name,
        }


@dataclass
class Company:
    realm_id: str
    name: str
    country: str
    home_currency: str
    edition: str
    multicurrency: bool
    class_tracking: str
    track_departments: bool
    custom_txn_numbers: bool
    book_close_date: date | None
    created_at: float = field(default_factory=time.time)
    entities: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    updated_at: dict[tuple[str, str], float] = field(default_factory=dict)
    deleted: dict[str, dict[str, tuple[float, dict[str, Any]]]] = field(default_factory=dict)
    next_ids: dict[str, int] = field(default_factory=dict)
    names: dict[str, dict[str, str]] = field(default_factory=dict)
    doc_numbers: dict[str, dict[str, int]] = field(default_factory=dict)
    last_doc_number: dict[str, int] = field(default_factory=dict)
    replay: dict[str, tuple[float, str, int, bytes]] = field(default_factory=dict)
    # (entity, id) of an invoice/credit memo/bill -> {"Payment:12": amount applied by that payment}
    applied: dict[tuple[str, str], dict[str, Decimal]] = field(default_factory=dict)
    # (entity, id) of a payment/sales receipt in a deposit -> "Deposit:<id>"
    deposited: dict[tuple[str, str], str] = field(default_factory=dict)
    # Attachable id -> the uploaded file's bytes
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def tz(self) -> timezone:
        return company_tz(self.country)

    @property
    def is_us(self) -> bool:
        return self.country == "US"

    def table(self, entity: str) -> dict[str, dict[str, Any]]:
        found = self.entities.get(entity)
        if found is None:
            found = self.entities[entity] = {}
        return found

    def new_id(self, entity: str) -> str:
        # Seeding gives some objects fixed ids (TaxCode "2", TaxRate "3"); a new object never takes
        # an id already used, live or deleted, or it would overwrite the seeded one.
        live, gone = self.table(entity), self.deleted.get(entity, {})
        value = self.next_ids.get(entity, 1)
        while str(value) in live or str(value) in gone:
            value += 1
        self.next_ids[entity] = value + 1
        return str(value)

    def name_index(self, space: str) -> dict[str, str]:
        found = self.names.get(space)
        if found is None:
            found = self.names[space] = {}
        return found

    def prefs(self) -> dict[str, Any]:
        return self.table("Preferences")["1"]


@dataclass
class Grant:
    """One app's connection to one company."""

    grant_id: str
    client_id: str
    realm_id: str
    scope: str
    created_at: float
    revoked: bool = False


@dataclass
class RefreshToken:
    value: str
    grant_id: str
    issued_at: float
    expires_at: float
    hard_expires_at: float
    superseded_at: float | None = None


@dataclass
class AuthCode:
    client_id: str
    realm_id: str
    redirect_uri: str
    scope: str
    expires_at: float
    used: bool = False


@dataclass
class TokenSettings:
    code_ttl: float = AUTH_CODE_TTL_SECONDS
    access_ttl: float = ACCESS_TOKEN_TTL_SECONDS
    refresh_ttl: float = REFRESH_TOKEN_TTL_SECONDS
    refresh_hard_ttl: float = REFRESH_TOKEN_HARD_TTL_SECONDS
    rotation_seconds: float = REFRESH_ROTATION_SECONDS
    grace_seconds: float = REFRESH_GRACE_SECONDS


@dataclass
class LogEntry:
    seq: int
    at: float
    realm_id: str | None
    client_id: str | None
    method: str
    path: str
    query: str
    status: int
    requestid: str | None
    fault_code: str | None
    entity: str | None
    operation: str | None
    intuit_tid: str
    items: list[dict[str, str | None]] | None = None

    def public(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": iso_ms(self.at),
            "realm_id": self.realm_id,
            "client_id": self.client_id,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "status": self.status,
            "requestid": self.requestid,
            "fault_code": self.fault_code,
            "entity": self.entity,
            "operation": self.operation,
            "intuit_tid": self.intuit_tid,
            "items": self.items,
        }


@dataclass
class State:
    apps: dict[str, App] = field(default_factory=dict)
    companies: dict[str, Company] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)
    codes: dict[str, AuthCode] = field(default_factory=dict)
    access_tokens: dict[str, tuple[str, float]] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    token_settings: TokenSettings = field(default_factory=TokenSettings)
    log: collections.deque[LogEntry] = field(
        default_factory=lambda: collections.deque(maxlen=REQUEST_LOG_MAX)
    )
    seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    realm_counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def new_realm_id(self) -> str:
        # Real realm ids are long digit strings; keep them unique and realistic-looking.
        return f"9341{int(time.time()) % 10_000_000:07d}{next(self.realm_counter):05d}"

    def record(self, **values: Any) -> LogEntry:
        entry = LogEntry(seq=next(self.seq), at=time.time(), **values)
        self.log.append(entry)
        return entry

    def active_grants(self, realm_id: str) -> list[Grant]:
        return [g for g in self.grants.values() if g.realm_id == realm_id and not g.revoked]


def new_token(prefix: str = "", nbytes: int = 32) -> str:
    return prefix + secrets.token_urlsafe(nbytes)
