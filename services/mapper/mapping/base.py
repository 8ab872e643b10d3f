"""What every mapping shares: the context it reads, the problems it collects, the commands it emits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from services.mapper.reference import Reference
from services.mapper.sync_settings import SyncSettings
from shared.contracts.internal import CompanyProfile, ExportRequested, Match

CENT = Decimal("0.01")
ZERO = Decimal(0)
NON_US_COUNTRIES = frozenset({"GB", "CA", "AU"})
SUPPORTED_COUNTRIES = frozenset({"US"}) | NON_US_COUNTRIES
# QBO refuses these in DisplayName and Item Name (reference §8.3).
FORBIDDEN_NAME_CHARS = (":", "\t", "\n")
LINK = "$link"


def q2(value: Decimal) -> Decimal:
    """Rounded to the cent the way QBO rounds (half up)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Issue:
    """One thing wrong with an event: where (JSON path), what, and how to fix it."""

    path: str
    message: str
    hint: str = ""

    def as_dict(self) -> dict[str, str]:
        out = {"path": self.path, "message": self.message}
        if self.hint:
            out["hint"] = self.hint
        return out


class Rejection(Exception):
    """An event the bridge refuses before QBO; carries every problem found, not just the first."""

    def __init__(
        self, code: str, message: str, *, hint: str = "", problems: list[Issue] | None = None
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.hint = code, message, hint
        self.problems = problems or []


def us_tax(company: CompanyProfile) -> bool:
    """Whether the company keeps US sales tax (TAX/NON lines) rather than a tax code per line."""
    return company.country.upper() == "US" or company.tax_mode == "us_sales_tax"


@dataclass(frozen=True, slots=True)
class Target:
    """The connection an event is for."""

    connection_id: str
    realm_id: str
    company: CompanyProfile

    @property
    def us(self) -> bool:
        return us_tax(self.company)


@dataclass
class MapContext:
    """The inputs of one mapping and what it has produced so far."""

    target: Target
    settings: SyncSettings
    reference: Reference
    source_event_id: str
    event_time: dt.datetime | None = None
    issues: list[Issue] = field(default_factory=list)
    commands: list[ExportRequested] = field(default_factory=list)

    def problem(self, path: str, message: str, hint: str = "") -> None:
        self.issues.append(Issue(path, message, hint))

    def emit(
        self,
        *,
        entity: str,
        operation: str,
        payload: dict[str, Any],
        platform_id: str,
        object_type: str,
        match: Match | tuple[str, str] | None = None,
        if_absent: str = "wait",
        after: list[dict[str, str]] | None = None,
    ) -> None:
        """Queue one ``qbo.export.requested``; an ensure already queued for the same object is kept once."""
        if any(c.entity == entity and c.platform_id == platform_id for c in self.commands):
            return
        self.commands.append(
            ExportRequested(
                connection_id=self.target.connection_id,
                realm_id=self.target.realm_id,
                entity=entity,
                operation=operation,
                match=Match(field=match[0], value=match[1]) if isinstance(match, tuple) else match,
                payload=to_wire(payload),
                depends_on=_dependencies(payload),
                source_event_id=self.source_event_id,
                platform_id=platform_id,
                object_type=object_type,
                event_time=self.event_time,
                if_absent=if_absent,
                after=after or [],
            )
        )

    def result(self, summary: str) -> list[ExportRequested]:
        """The commands, or a ``Rejection`` naming every problem collected."""
        if self.issues:
            first = self.issues[0]
            raise Rejection(
                "invalid_for_qbo",
                f"{summary}: {_describe(self.issues)}",
                hint=first.hint,
                problems=self.issues,
            )
        return self.commands


def _describe(issues: list[Issue]) -> str:
    return "; ".join(f"{i.path}: {i.message}" for i in issues)


def link(entity: str, platform_id: str, *, as_id: bool = False) -> dict[str, Any]:
    """A reference to an object that may not be in QBO yet; the exporter puts its QBO id in.

    By default the whole object becomes ``{"value": id}`` (a QBO ref); ``as_id`` makes it the bare
    id string, for fields such as ``LinkedTxn[].TxnId``.
    """
    body: dict[str, Any] = {"entity": entity, "platform_id": platform_id}
    if as_id:
        body["as"] = "id"
    return {LINK: body}


def match_link(
    entity: str, field_name: str, value: str, *, as_id: bool = False, party: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Like ``link`` but for an object known by a match key only (an invoice by its DocNumber).

    ``party`` (a customer ref or link) restricts the match to that party's documents, so another
    customer's invoice with the same number is never taken.
    """
    match: dict[str, Any] = {"field": field_name, "value": value}
    if party is not None:
        match["party"] = party
    body: dict[str, Any] = {"entity": entity, "match": match}
    if as_id:
        body["as"] = "id"
    return {LINK: body}


def document_match(
    number: str | None, *, party: dict[str, Any] | None, total: Decimal | None, party_field: str
) -> Match | None:
    """A document's match key: its number, adopted only if the found document is the same party's
    (``party_field`` is CustomerRef or VendorRef) and, when not ours, has the same total."""
    if number is None:
        return None
    wire_party = to_wire(party) if party is not None else None
    return Match(field="DocNumber", value=number, party_field=party_field, party=wire_party, total=total)


def _links(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        if LINK in value:
            yield value[LINK]
            return
        for item in value.values():
            yield from _links(item)
    elif isinstance(value, list):
        for item in value:
            yield from _links(item)


def _dependencies(payload: dict[str, Any]) -> list[dict[str, str]]:
    seen: list[dict[str, str]] = []
    for body in _links(payload):
        if "platform_id" in body:
            dep = {"entity": body["entity"], "platform_id": body["platform_id"]}
            if dep not in seen:
                seen.append(dep)
    return seen


def to_wire(value: Any) -> Any:
    """Decimals as JSON numbers, as QBO expects; dates as ISO strings; None fields dropped.

    A float's shortest repr round-trips every decimal of up to 15 significant digits, so an
    amount such as 10.05 reaches QBO as exactly ``10.05``.
    """
    if isinstance(value, dict):
        return {k: to_wire(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [to_wire(v) for v in value]
    if isinstance(value, Decimal):
        return (
            int(value)
            if value == value.to_integral_value() and value.as_tuple().exponent == 0
            else float(value)
        )
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def check_name(ctx: MapContext, path: str, name: str, *, limit: int, what: str) -> None:
    """QBO's name rules: length and no ':' / tab / newline."""
    if len(name) > limit:
        ctx.problem(
            path, f"{what} is {len(name)} characters; QBO allows at most {limit}", f"shorten the {what}"
        )
    if any(ch in name for ch in FORBIDDEN_NAME_CHARS):
        ctx.problem(path, f"{what} '{name}' contains ':', a tab or a newline, which QBO refuses", "rename it")
