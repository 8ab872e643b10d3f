"""The rules of the mapper: which events are admitted, what they become, how a refusal reads. No I/O."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from services.mapper.mapping import Issue, MapContext, Rejection, Target, journal, map_event
from services.mapper.reference import Reference
from services.mapper.sync_settings import Category, SyncSettings
from shared.contracts.bridge import SyncRejected
from shared.contracts.codec import Problem
from shared.contracts.internal import (
    CompanyProfile,
    ConnectionSettingsChanged,
    ExportRequested,
    ReadPathCategory,
)

CATEGORY_OF: dict[str, Category] = {
    "customer.upserted": "customers",
    "vendor.upserted": "vendors",
    "item.upserted": "items",
    "invoice.approved": "invoices",
    "invoice.updated": "invoices",
    "invoice.voided": "invoices",
    "credit_note.issued": "invoices",
    "credit_note.voided": "invoices",
    "payment.recorded": "payments",
    "refund.issued": "payments",
    "bill.approved": "bills",
    "bill.updated": "bills",
    "bill.cancelled": "bills",
    "purchase_order.approved": "purchase_orders",
    "purchase_order.updated": "purchase_orders",
    "purchase_order.cancelled": "purchase_orders",
    "credit_note.updated": "invoices",
    "payment.voided": "payments",
    "refund.voided": "payments",
    "customer.deactivated": "customers",
    "vendor.deactivated": "vendors",
    "item.deactivated": "items",
    "bill_payment.recorded": "bills",
}


class Excluded(Exception):
    """Settings say to skip this event (logged with the reason, never silent)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Connection:
    """This service's view of a tenant's connection."""

    connection_id: str
    tenant_id: str
    realm_id: str
    status: str
    company: CompanyProfile | None


def object_type(event_type: str) -> str:
    """``credit_note.issued`` → ``credit_note``."""
    return event_type.split(".", 1)[0]


def platform_id(event_type: str, data: Any) -> str | None:
    """The platform's id of the object an event is about (``invoice_id`` of an invoice event)."""
    field = f"{object_type(event_type)}_id"
    value = data.get(field) if isinstance(data, dict) else getattr(data, field, None)
    return str(value)[:200] if value else None


def read_path_settings(connection_id: str, version: int, settings: SyncSettings) -> ConnectionSettingsChanged:
    """What the read path (webhooks) obeys of a connection's settings: each category's switch,
    direction and start date."""
    categories = {
        name: ReadPathCategory(enabled=c.enabled, direction=c.direction, start_date=c.start_date)
        for name, c in settings.categories.items()
    }
    return ConnectionSettingsChanged(connection_id=connection_id, version=version, categories=categories)


def stored_read_path_settings(
    connection_id: str, version: int, body: Any
) -> ConnectionSettingsChanged | None:
    """``read_path_settings`` of a stored settings document, or None if it is no longer valid
    settings (the mapper refuses such a document too, until it is saved again)."""
    try:
        settings = SyncSettings.model_validate(body)
    except ValidationError:
        return None
    return read_path_settings(connection_id, version, settings)


def event_date(data: Any) -> dt.date | None:
    value = getattr(data, "issue_date", None) or getattr(data, "date", None)
    return value if isinstance(value, dt.date) else None


def admit(
    event_type: str,
    data: Any,
    *,
    tenant_id: str | None,
    connection: Connection | None,
    settings: SyncSettings,
) -> Target:
    """The connection an event goes to, or why not: a ``Rejection``, or ``Excluded`` when settings skip it."""
    if connection is None:
        raise Rejection(
            "unknown_tenant",
            f"tenant '{tenant_id}' has no QuickBooks connection",
            hint="connect the tenant to QuickBooks, or check the event's tenantid",
        )
    if connection.status == "revoked":
        raise Rejection(
            "connection_revoked",
            "the tenant's QuickBooks connection was disconnected",
            hint="reconnect the company, then send the event again",
        )
    if connection.status != "active":
        raise Rejection(
            "connection_blocked",
            f"the QuickBooks connection is {connection.status.replace('_', ' ')}",
            hint="a person must reconnect the company in QuickBooks; then send the event again",
        )
    if connection.company is None:
        raise Rejection(
            "connection_incomplete",
            "the company profile of the connection is not known yet",
            hint="refresh the connection's company profile",
        )
    _category_allows(event_type, data, settings)
    return Target(connection.connection_id, connection.realm_id, connection.company)


def _category_allows(event_type: str, data: Any, settings: SyncSettings) -> None:
    name = CATEGORY_OF[event_type]
    cat = settings.category(name)
    reason, hint = None, ""
    if not cat.enabled or cat.direction == "off":
        reason, hint = f"the {name} category is turned off", f"enable categories.{name} in the settings"
    elif not cat.to_qbo:
        reason = f"{name} sync from QuickBooks to the platform only, not the other way"
        hint = f"set categories.{name}.direction to to_qbo or both"
    else:
        date = event_date(data)
        if cat.start_date is not None and date is not None and date < cat.start_date:
            reason = f"dated {date.isoformat()}, before the {name} start date {cat.start_date.isoformat()}"
            hint = f"move categories.{name}.start_date earlier to sync older documents"
    if reason is None:
        return
    if cat.when_excluded == "skip":
        raise Excluded(reason)
    raise Rejection("excluded_by_settings", reason, hint=hint)


WAITING_FOR_IMPORT = Rejection(
    "waiting_for_reference_import",
    "waiting for the QuickBooks company's lists (customers, items, tax codes, accounts) to be imported",
    hint="nothing to do: the event is mapped as soon as the import ends (or when its wait is over)",
)


def must_wait(*, imported: bool) -> bool:
    """An event for a company whose lists are still being imported waits for them, never refused."""
    return not imported


def plan(
    event_type: str,
    data: Any,
    *,
    target: Target,
    settings: SyncSettings,
    reference: Reference,
    source_event_id: str,
    event_time: dt.datetime | None = None,
) -> list[ExportRequested]:
    """The writes one admitted event needs, in dependency order; a ``Rejection`` names every problem.

    Every command carries the platform's event time: the exporter applies writes to one object in
    that order, whatever order they arrive in.
    """
    ctx = MapContext(
        target=target,
        settings=settings,
        reference=reference,
        source_event_id=source_event_id,
        event_time=event_time,
    )
    return map_event(ctx, event_type, data)


def in_lane(commands: list[ExportRequested], *, history: bool) -> list[ExportRequested]:
    """The commands of a bulk line go in the history lane (after the realm's live writes); a single
    event's stay live."""
    if not history:
        return commands
    return [c.model_copy(update={"lane": "history"}) for c in commands]


def rejected(
    event_type: str,
    data: Any,
    *,
    source_event_id: str,
    rejection: Rejection,
    connection_id: str | None = None,
    retryable: bool = False,
) -> SyncRejected:
    """The ``sync.rejected`` telling the platform what is wrong, where and how to fix it."""
    return SyncRejected(
        object_type=object_type(event_type),
        platform_id=platform_id(event_type, data),
        source_event_id=source_event_id,
        code=rejection.code,
        message=rejection.message,
        hint=rejection.hint,
        retryable=retryable or rejection.code == "connection_blocked",
        connection_id=connection_id,
        problems=[p.as_dict() for p in rejection.problems],
    )


def invalid(summary: str, problems: list[Problem]) -> Rejection:
    """A decoding failure as a rejection: every problem with its JSON path."""
    issues = [Issue(p.path, p.message) for p in problems]
    detail = "; ".join(f"{p.path}: {p.message}" for p in problems)
    return Rejection(
        "invalid_event",
        f"{summary}: {detail}" if detail else summary,
        hint="fix the fields named in problems and send the event again",
        problems=issues,
    )


def used_values(data: Any) -> Iterator[tuple[str, str]]:
    """(kind, value) of every platform value readiness checks that this event uses."""
    for line in getattr(data, "lines", None) or ():
        if line.tax_rate:
            yield "tax_rates", line.tax_rate
    for holder in (data, getattr(data, "customer", None)):
        if holder is None:
            continue
        if getattr(holder, "payment_method", None):
            yield "payment_methods", holder.payment_method
        if getattr(holder, "payment_terms_days", None) is not None:
            yield "payment_terms_days", str(holder.payment_terms_days)
        if getattr(holder, "currency", None):
            yield "currencies", holder.currency


def names_in(data: Any, settings: SyncSettings) -> dict[str, set[str]]:
    """Customers, items and vendors an event may refer to by name: what the mirror must be asked for."""
    customers: set[str] = set()
    items: set[str] = {settings.fallback_item} if settings.fallback_item else set()
    vendors: set[str] = set()
    if settings.summarized and settings.posting.master_customer:
        customers.add(settings.posting.master_customer)
    for holder in (data, getattr(data, "customer", None), getattr(data, "vendor", None)):
        for attr in ("code", "name", "company_name", "project"):
            value = getattr(holder, attr, None) if holder is not None else None
            if isinstance(value, str):
                customers.add(value)
                vendors.add(value)
    if hasattr(data, "item_id") and isinstance(getattr(data, "code", None), str):
        items.add(data.code)  # item.deactivated carries the id only
    for line in getattr(data, "lines", None) or ():
        if line.item_code:
            items.add(line.item_code)
        if getattr(line, "customer", None):
            customers.add(line.customer)
    vendor = getattr(data, "vendor", None)
    if vendor is not None:
        vendors.add(vendor.name + settings.vendor_name_collision_suffix)
    if hasattr(data, "vendor_id") and isinstance(getattr(data, "name", None), str):
        vendors.add(data.name + settings.vendor_name_collision_suffix)
    return {"Customer": customers, "Item": items, "Vendor": vendors}


# -- history in bulk (architecture §5b): what a dry run says a line would do, a batch's progress ----


@dataclass(frozen=True, slots=True)
class PlanStep:
    """What one bulk line (or one of its writes) would do: create, update, link (to ``qbo_id``) or
    reject, and why."""

    action: str
    entity: str | None
    qbo_id: str | None
    reason: str


def refused(reason: str) -> PlanStep:
    return PlanStep("reject", None, None, reason)


def dry_run_step(
    event_type: str, commands: list[ExportRequested], verdicts: list[PlanStep], *, imported: bool
) -> PlanStep:
    """One mapped line's plan from the write path's verdict on each of its writes: its own object's
    verdict, refused if one of the writes it needs would be; the other writes named after it."""
    if not commands:
        return PlanStep("update", None, None, "nothing to write in QuickBooks")
    pairs = list(zip(commands, verdicts, strict=True))
    own = next((i for i, (c, _) in enumerate(pairs) if c.object_type == object_type(event_type)), 0)
    step = verdicts[own]
    others = [
        f"{v.action} {c.entity}{f' {v.qbo_id}' if v.qbo_id else ''} '{c.platform_id}'" for c, v in pairs
    ]
    del others[own]
    reason = step.reason + (f"; also: {', '.join(others)}" if others else "")
    refusal = next(
        (f"{c.entity} '{c.platform_id}': {v.reason}" for c, v in pairs if v.action == "reject"), None
    )
    if refusal is not None and step.action != "reject":
        return PlanStep("reject", step.entity, None, f"a write it needs would be refused: {refusal}")
    if not imported:
        reason += "; the company's lists are still being imported: judged on the mirror so far"
    return PlanStep(step.action, step.entity, step.qbo_id, reason)


def batch_progress(
    *, total: int, rejected_lines: int, groups: list[tuple[str | None, str | None, int]]
) -> dict[str, Any]:
    """``{total, pending, succeeded, failed, rejected, done}`` from (exporter outcome, mapper outcome,
    count) groups: the exporter's word decides a mapped event; skipped by settings counts as done."""
    counts = {"pending": 0, "succeeded": 0, "failed": 0, "rejected": rejected_lines}
    for exported, mapped, n in groups:
        if exported in ("succeeded", "failed"):
            counts[exported] += n
        elif mapped == "rejected":
            counts["rejected"] += n
        elif mapped == "skipped":
            counts["succeeded"] += n
        else:  # not taken up yet, waiting for the company's lists, or mapped and not yet written
            counts["pending"] += n
    return {"total": total, **counts, "done": counts["pending"] == 0}


# -- summarized journal mode: the day's entry from the day's documents -------------------------------


def summarized(event_type: str, settings: SyncSettings) -> bool:
    """Whether this event changes the day's journal entry instead of writing a document."""
    return settings.summarized and event_type in journal.SUMMARIZED_EVENTS


def journal_share(
    event_type: str,
    data: Any,
    *,
    target: Target,
    settings: SyncSettings,
    reference: Reference,
    source_event_id: str,
) -> dict[str, Any] | None:
    """A document's share of its day (None for a void: it no longer counts), or a ``Rejection``."""
    if event_type in journal.VOIDS:
        return None
    ctx = MapContext(target=target, settings=settings, reference=reference, source_event_id=source_event_id)
    return journal.share(ctx, data, credit=event_type.startswith("credit_note."))


def journal_day(
    day: dt.date,
    shares: list[tuple[str, dict[str, Any]]],
    *,
    generation: int,
    target: Target,
    settings: SyncSettings,
    reference: Reference,
    source_event_id: str,
    revised_at: dt.datetime,
) -> list[ExportRequested]:
    """The write that brings QBO's entry for ``day`` to the sum of ``shares`` ((document key, share)).

    ``revised_at`` orders the day's writes: the newest recomputation is the one QBO ends with.
    """
    ctx = MapContext(
        target=target,
        settings=settings,
        reference=reference,
        source_event_id=source_event_id,
        event_time=revised_at,
    )
    invoices = sum(1 for key, _ in shares if key.startswith("invoice:"))
    counts = (invoices, len(shares) - invoices)
    return journal.day_commands(ctx, day, [s for _, s in shares], generation=generation, counts=counts)


def journal_revision(previous: dt.datetime | None, now: dt.datetime) -> dt.datetime:
    """A day's next revision time: after the previous one even if the clock stepped back."""
    if previous is not None and now <= previous:
        return previous + dt.timedelta(microseconds=1)
    return now


def dry_run_journal_step(
    event_type: str, day: dt.date | None, *, day_exists: bool, settings: SyncSettings, imported: bool
) -> PlanStep:
    """What a summarized-mode line would do: change its day's JournalEntry; never an Invoice,
    CreditMemo or Customer (``day`` None: a void, which takes the document out of its day)."""
    kind = object_type(event_type).replace("_", " ")
    if day is None:
        reason = f"the {kind} is taken out of its day's summarized JournalEntry, which is recomputed"
        step = PlanStep("update", "JournalEntry", None, reason)
    else:
        entry = f"JournalEntry QBB-{day:%Y%m%d} of {day.isoformat()}"
        master = settings.posting.master_customer
        reason = (
            f"summarized journal: the {kind} is added to the {entry} (receivables against the master "
            f"customer '{master}'); no Invoice, CreditMemo or Customer is written"
        )
        step = PlanStep("update" if day_exists else "create", "JournalEntry", None, reason)
    if not imported:
        reason += "; the company's lists are still being imported: judged on the mirror so far"
    return PlanStep(step.action, step.entity, step.qbo_id, reason)


def voided_before(event_type: str) -> Rejection:
    kind = object_type(event_type).replace("_", " ")
    return Rejection(
        "document_voided",
        f"the {kind} was voided before this event; it no longer counts for the day's journal entry",
        hint=f"send a new {kind} (with a new id) if it should be posted",
    )
