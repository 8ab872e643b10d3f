"""Queries of the mapper service: `session` first, keyword-only after; never commits."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Text, and_, delete, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.mapper import models
from services.mapper.readiness import UsedValues
from services.mapper.reference import SMALL, RefEntity, Reference, name_of
from services.mapper.service import Connection
from services.mapper.sync_settings import SyncSettings
from shared.contracts.envelope import Envelope
from shared.contracts.internal import CompanyProfile
from shared.db import inline
from shared.messaging import inbox
from shared.messaging.outbox import QUEUE_TARGET, wake_relay


class VersionConflict(Exception):
    """The settings changed since the caller read them."""

    def __init__(self, current: int) -> None:
        super().__init__(f"settings are at version {current}")
        self.current = current


def _connection(row: Any) -> Connection:
    company = CompanyProfile.model_validate(row.company) if row.company else None
    return Connection(row.connection_id, row.tenant_id, row.realm_id, row.status, company)


async def connection_for_tenant(session: AsyncSession, *, tenant_id: str) -> Connection | None:
    """The tenant's connection (the most recently changed one, if it ever had several)."""
    t = models.connections
    row = (
        await session.execute(
            select(t).where(t.c.tenant_id == tenant_id).order_by(t.c.updated_at.desc()).limit(1)
        )
    ).first()
    return _connection(row) if row else None


async def connection_by_id(session: AsyncSession, *, connection_id: str) -> Connection | None:
    t = models.connections
    row = (await session.execute(select(t).where(t.c.connection_id == connection_id))).first()
    return _connection(row) if row else None


async def load_settings(session: AsyncSession, *, connection_id: str) -> tuple[int, SyncSettings]:
    """(version, settings); a connection nobody configured has version 0 and the defaults."""
    t = models.connection_settings
    row = (
        await session.execute(
            select(t.c.version, t.c.settings, t.c.updated_at).where(t.c.connection_id == connection_id)
        )
    ).first()
    if row is None:
        return 0, SyncSettings()
    return row.version, _parsed_settings(connection_id, row.version, row.updated_at, row.settings)


# Parsed settings by (connection, version, stored at): a stored version never changes, so an entry
# is never stale; it only saves validating the same JSON on every event. Bounded, oldest out.
_SETTINGS: dict[tuple[str, int, dt.datetime], SyncSettings] = {}
_CACHED_MAX = 1024


def _parsed_settings(connection_id: str, version: int, stored_at: dt.datetime, body: Any) -> SyncSettings:
    key = (connection_id, version, stored_at)
    found = _SETTINGS.get(key)
    if found is None:
        found = _SETTINGS[key] = SyncSettings.model_validate(body)
        while len(_SETTINGS) > _CACHED_MAX:
            del _SETTINGS[next(iter(_SETTINGS))]
    return found


@dataclass(frozen=True, slots=True)
class EventContext:
    """What mapping one event of a tenant needs to know first, read in one statement."""

    connection: Connection
    settings: SyncSettings
    imported: bool
    small_lists: str  # a fingerprint of the company's mirrored small lists (see ``load_reference``)
    in_batch: bool  # the event came in a bulk batch: its writes are history, not live


async def event_context(session: AsyncSession, *, tenant_id: str, event_id: str) -> EventContext | None:
    """The tenant's connection (the most recently changed one), its settings, whether its company's
    lists were imported, the fingerprint of its small lists and whether the event came in a bulk
    batch — one query instead of five."""
    return (await event_contexts(session, events=[(tenant_id, event_id)])).get((tenant_id, event_id))


async def event_contexts(
    session: AsyncSession, *, events: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], EventContext]:
    """``event_context`` of each (tenant id, event id) at once, for events of any tenants: one query.
    An event whose tenant has no connection is left out."""
    wanted = list(dict.fromkeys(events))
    if not wanted:
        return {}
    c, st, ri, be = (
        models.connections,
        models.connection_settings,
        models.reference_imports,
        models.batch_events,
    )
    imported = select(ri.c.realm_id).where(ri.c.realm_id == c.c.realm_id).exists()
    batched = (
        select(func.array_agg(be.c.event_id))
        .where(be.c.tenant_id == c.c.tenant_id, be.c.event_id.in_(sorted({e for _, e in wanted})))
        .scalar_subquery()
    )
    query = (
        select(
            c,
            st.c.version.label("settings_version"),
            st.c.settings.label("settings_body"),
            st.c.updated_at.label("settings_at"),
            imported.label("imported"),
            _small_lists_fingerprint(c.c.realm_id).label("small_lists"),
            batched.label("batched"),
        )
        .outerjoin(st, st.c.connection_id == c.c.connection_id)
        .where(c.c.tenant_id.in_(sorted({t for t, _ in wanted})))
        .order_by(c.c.tenant_id, c.c.updated_at.desc())
        .ext(distinct_on(c.c.tenant_id))
    )
    by_tenant = {row.tenant_id: row for row in await session.execute(query)}
    found: dict[tuple[str, str], EventContext] = {}
    for tenant_id, event_id in wanted:
        if (row := by_tenant.get(tenant_id)) is None:
            continue
        settings = (
            SyncSettings()
            if row.settings_version is None
            else _parsed_settings(row.connection_id, row.settings_version, row.settings_at, row.settings_body)
        )
        found[(tenant_id, event_id)] = EventContext(
            _connection(row),
            settings,
            bool(row.imported),
            str(row.small_lists),
            event_id in (row.batched or ()),
        )
    return found


async def save_settings(
    session: AsyncSession,
    *,
    connection_id: str,
    tenant_id: str,
    settings: SyncSettings,
    expected_version: int | None,
    changed_by: str | None,
) -> int:
    """Store a new version (locking the row so two writers never share a number); returns it.

    The version counts as announced: the caller stages its ``connection.settings_changed`` in
    this transaction."""
    t = models.connection_settings
    current = (
        await session.execute(select(t.c.version).where(t.c.connection_id == connection_id).with_for_update())
    ).scalar_one_or_none() or 0
    if expected_version is not None and expected_version != current:
        raise VersionConflict(current)
    version = current + 1
    body = settings.model_dump(mode="json")
    stmt = insert(t).values(
        connection_id=connection_id,
        tenant_id=tenant_id,
        version=version,
        settings=body,
        announced_version=version,
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["connection_id"],
            set_={
                "version": version,
                "settings": body,
                "updated_at": func.now(),
                "announced_version": version,
            },
        )
    )
    await session.execute(
        insert(models.connection_settings_history).values(
            connection_id=connection_id, version=version, settings=body, changed_by=changed_by
        )
    )
    return version


@dataclass(frozen=True, slots=True)
class StoredSettings:
    """One connection's current settings as stored (the document unparsed)."""

    connection_id: str
    tenant_id: str
    version: int
    body: Any


async def take_unannounced_settings(session: AsyncSession, *, limit: int) -> list[StoredSettings]:
    """Up to ``limit`` connections whose current settings no event announced, locked; rows another
    replica (or a save) holds are skipped, so two replicas never announce the same row at once."""
    t = models.connection_settings
    behind = or_(t.c.announced_version.is_(None), t.c.announced_version < t.c.version)
    rows = await session.execute(
        select(t.c.connection_id, t.c.tenant_id, t.c.version, t.c.settings)
        .where(behind)
        .order_by(t.c.connection_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [StoredSettings(r.connection_id, r.tenant_id, r.version, r.settings) for r in rows]


async def mark_settings_announced(session: AsyncSession, *, connection_ids: Iterable[str]) -> None:
    """Their current version counts as announced (the caller locked the rows and staged the events)."""
    t = models.connection_settings
    await session.execute(
        update(t).where(t.c.connection_id.in_(list(connection_ids))).values(announced_version=t.c.version)
    )


async def settings_history(
    session: AsyncSession, *, connection_id: str, limit: int = 50
) -> list[dict[str, Any]]:
    h = models.connection_settings_history
    rows = await session.execute(
        select(h.c.version, h.c.changed_by, h.c.created_at)
        .where(h.c.connection_id == connection_id)
        .order_by(h.c.version.desc())
        .limit(limit)
    )
    return [dict(r._mapping) for r in rows]


def _key(name: str) -> str:
    return name.strip().casefold()


async def apply_reference_change(
    session: AsyncSession, *, realm_id: str, entity: str, qbo_id: str, data: dict[str, Any] | None
) -> None:
    """Upsert a mirrored object from its full QBO JSON, or remove it (``data`` None: deleted)."""
    t = models.reference_entities
    if data is None:
        await session.execute(
            delete(t).where(t.c.realm_id == realm_id, t.c.entity == entity, t.c.qbo_id == qbo_id)
        )
        return
    name = name_of(entity, data)
    leaf = str(data.get("DisplayName") or data.get("Name") or name)
    values = {
        "realm_id": realm_id,
        "entity": entity,
        "qbo_id": qbo_id,
        "name": name[:1100],
        "name_key": _key(name)[:1100],
        "leaf_key": _key(leaf)[:1100],
        "active": data.get("Active", True) is not False,
        "data": {**data, "Id": qbo_id},
        "updated_at": func.now(),
    }
    stmt = insert(t).values(**values)
    update = {k: stmt.excluded[k] for k in values if k not in ("realm_id", "entity", "qbo_id")}
    await session.execute(
        stmt.on_conflict_do_update(index_elements=["realm_id", "entity", "qbo_id"], set_=update)
    )


def _rows(result: Iterable[Any]) -> list[RefEntity]:
    return [RefEntity(r.entity, r.qbo_id, r.name, r.active, r.data) for r in result]


def _small_lists_fingerprint(realm_id: Any) -> Any:
    """A scalar subquery that changes whenever a small list of ``realm_id`` changes in the mirror:
    the count of its rows and the sum of hashes of (entity, id, updated_at) — every upsert stamps
    ``updated_at``, every removal changes the count, whatever order writers commit in."""
    t = models.reference_entities
    row_hash = func.hashtext(t.c.entity + ":" + t.c.qbo_id + ":" + func.cast(t.c.updated_at, Text))
    return (
        select(func.count().cast(Text) + ":" + func.coalesce(func.sum(row_hash), 0).cast(Text))
        .where(t.c.realm_id == realm_id, t.c.entity.in_(SMALL))
        .scalar_subquery()
    )


# The small lists (accounts, tax codes, terms, ...) of a company by realm, with the fingerprint
# they were read at: every event needs them all, and they rarely change. Served only while the
# fingerprint read in the event's own transaction matches, so never staler than the database.
_SMALL_LISTS: dict[str, tuple[str, tuple[RefEntity, ...]]] = {}


@dataclass(frozen=True, slots=True)
class Named:
    """A mirrored customer, item or vendor with the keys it is found by (``load_reference``)."""

    row: RefEntity
    name_key: str
    leaf_key: str


async def named_rows(
    session: AsyncSession, *, names: Mapping[str, Mapping[str, set[str]]]
) -> dict[str, list[Named]]:
    """The mirrored objects of each company (realm id → entity → names) named, for the events of
    several companies at once: one query; every realm asked for has a list, if empty.

    The names go as three arrays (realm, entity, key), so the statement is the same whatever the
    batch names: SQLAlchemy and Postgres reuse its plan, where a condition built of the batch's
    realms, entities and keys was compiled afresh for every batch."""
    found: dict[str, list[Named]] = {realm_id: [] for realm_id in names}
    wanted = sorted(
        {
            (realm_id, entity, key)
            for realm_id, named in names.items()
            for entity, values in named.items()
            for key in (_key(n) for n in values if n)
        }
    )
    if wanted:
        realms, entities, keys = (list(column) for column in zip(*wanted, strict=True))
        rows = await session.execute(_NAMED, {"realms": realms, "entities": entities, "keys": keys})
        for r in rows:
            found[r.realm_id].append(Named(_rows([r])[0], r.name_key, r.leaf_key))
    return found


_NAMED = text("""
    SELECT DISTINCT ON (t.realm_id, t.entity, t.qbo_id)
           t.realm_id, t.entity, t.qbo_id, t.name, t.active, t.data, t.name_key, t.leaf_key
    FROM unnest(CAST(:realms AS text[]), CAST(:entities AS text[]), CAST(:keys AS text[]))
         AS w(realm_id, entity, key)
    JOIN mapper.reference_entities t
      ON t.realm_id = w.realm_id AND t.entity = w.entity AND (t.name_key = w.key OR t.leaf_key = w.key)
""").columns(*(c for c in models.reference_entities.c if c.name != "updated_at"))


async def load_reference(
    session: AsyncSession,
    *,
    realm_id: str,
    names: dict[str, set[str]],
    small_lists: str | None = None,
    named: Sequence[Named] | None = None,
) -> Reference:
    """The small lists in full, plus the customers, items and vendors named in ``names``.

    ``small_lists`` is the fingerprint from ``event_context``: when it matches the one the lists
    were last read at, they are not read again. ``named``: the company's objects read for a batch
    of events (``named_rows``), of which this event's are kept; else they are read here.
    """
    t = models.reference_entities
    cached = _SMALL_LISTS.get(realm_id)
    if small_lists is not None and cached is not None and cached[0] == small_lists:
        rows = list(cached[1])
    else:
        rows = _rows(await session.execute(select(t).where(t.c.realm_id == realm_id, t.c.entity.in_(SMALL))))
        if small_lists is not None:
            _SMALL_LISTS.pop(realm_id, None)
            _SMALL_LISTS[realm_id] = (small_lists, tuple(rows))
            while len(_SMALL_LISTS) > _CACHED_MAX:
                del _SMALL_LISTS[next(iter(_SMALL_LISTS))]
    if named is None:
        named = (await named_rows(session, names={realm_id: names}))[realm_id]
    keys = {entity: {_key(n) for n in values if n} for entity, values in names.items()}
    for n in named:
        of_entity = keys.get(n.row.entity, set())
        if n.name_key in of_entity or n.leaf_key in of_entity:
            rows.append(n.row)
    return Reference.of(rows)


async def load_full_reference(
    session: AsyncSession, *, realm_id: str, customers: set[str] | None = None
) -> Reference:
    """Everything mirrored for a company (readiness: small lists plus items), and the named customers."""
    t = models.reference_entities
    rows = _rows(
        await session.execute(select(t).where(t.c.realm_id == realm_id, t.c.entity.in_((*SMALL, "Item"))))
    )
    keys = sorted({_key(n) for n in customers or () if n})
    if keys:
        wanted = and_(t.c.entity == "Customer", or_(t.c.name_key.in_(keys), t.c.leaf_key.in_(keys)))
        rows += _rows(await session.execute(select(t).where(t.c.realm_id == realm_id, wanted)))
    return Reference.of(rows)


async def list_reference(
    session: AsyncSession, *, realm_id: str, entity: str, limit: int, offset: int
) -> list[dict[str, Any]]:
    t = models.reference_entities
    rows = await session.execute(
        select(t.c.qbo_id, t.c.name, t.c.active, t.c.data, t.c.updated_at)
        .where(t.c.realm_id == realm_id, t.c.entity == entity)
        .order_by(t.c.name_key, t.c.qbo_id)
        .limit(limit)
        .offset(offset)
    )
    return [dict(r._mapping) for r in rows]


# The values this process has seen recorded, by database (tests run several in one process): rows of
# ``platform_values`` are never deleted, so a value once seen committed is there for good, and the
# events after it that use it need no statement. Emptied when it holds more than this many.
_RECORDED: dict[str, set[tuple[str, str, str]]] = {}
RECORDED_CAP = 100_000


async def record_used_values(
    session: AsyncSession, *, connection_id: str, values: Iterable[tuple[str, str]]
) -> None:
    """Remember the values an event uses (what readiness checks the platform's lists against).

    A value seen before is left alone, not touched: updating its row locked it until the event's
    transaction ended, so every event of a connection waited for the one before it to commit.
    New values go in one order, so two events bringing the same new values never deadlock.
    """
    known = _RECORDED.setdefault(str(getattr(session.bind, "url", "")), set())  # as apikeys' owners
    unique = sorted({(k, v[:200]) for k, v in values if (connection_id, k, v[:200]) not in known})
    if not unique:
        return
    t = models.platform_values
    rows = [{"connection_id": connection_id, "kind": k, "value": v} for k, v in unique]
    stmt = insert(t).on_conflict_do_nothing(index_elements=["connection_id", "kind", "value"])
    inserted = {(r.kind, r.value) for r in await session.execute(stmt.returning(t.c.kind, t.c.value), rows)}
    if len(known) > RECORDED_CAP:
        known.clear()
    # One this statement did not insert was there, committed: an insert of it by a transaction still
    # open would have made the statement wait for that one's end.
    known.update((connection_id, k, v) for k, v in unique if (k, v) not in inserted)


async def used_values(session: AsyncSession, *, connection_id: str, settings: SyncSettings) -> UsedValues:
    """What the platform uses: seen in events plus declared in settings."""
    t = models.platform_values
    rows = (
        await session.execute(select(t.c.kind, t.c.value).where(t.c.connection_id == connection_id))
    ).all()
    seen: dict[str, set[str]] = {}
    for kind, value in rows:
        seen.setdefault(kind, set()).add(value)
    declared = settings.platform_values
    return UsedValues(
        tax_rates=frozenset(seen.get("tax_rates", set()) | set(declared.tax_rates)),
        payment_methods=frozenset(seen.get("payment_methods", set()) | set(declared.payment_methods)),
        payment_terms_days=frozenset(
            {int(v) for v in seen.get("payment_terms_days", set())} | set(declared.payment_terms_days)
        ),
        currencies=frozenset(seen.get("currencies", set()) | set(declared.currencies)),
    )


# The inbox's name for "received over HTTP": the answer to a repeat must not depend on whether
# the relay has already published (and deleted) the first copy's outbox row.
HTTP_RECEIVED = "mapper.http-events"


async def stage_platform_event(
    session: AsyncSession, *, envelope: Envelope, queue: str | None = None
) -> bool:
    """Put a platform event received over HTTP into the outbox as it is, keeping its id.

    It then reaches ``mapper.platform-events`` like one published to the broker, so both ways in
    share one path. A repeated id (False) stages nothing: the id is claimed in the inbox under
    ``HTTP_RECEIVED`` in this transaction, and the consumer's own inbox drops a repeat sent the
    other way. A rejection forgets both claims, so a corrected resend is taken afresh.
    ``queue`` (namespaced) sends it to that queue alone: a bulk line goes to the history lane.
    """
    if not await inbox.claim(session, models.inbox, consumer=HTTP_RECEIVED, message_id=envelope.dedup_key):
        return False
    t = models.outbox
    await session.execute(
        insert(t)
        .values(
            message_id=envelope.dedup_key,
            routing_key=envelope.type,
            exchange=f"{QUEUE_TARGET}{queue}" if queue else None,
            envelope=envelope.model_dump(mode="json", exclude_none=True),
        )
        .on_conflict_do_nothing()
        .returning(t.c.id, wake_relay(t))
    )
    return True


# -- the platform events' history, and events held until the company's lists are imported ------


def outcome_row(
    *,
    envelope: Envelope,
    connection_id: str | None,
    platform_id: str | None,
    outcome: str,
    rejection: Any = None,
    hold_until: dt.datetime | None = None,
) -> dict[str, Any]:
    """The ``platform_events`` row of what became of a platform event (``record_outcomes``)."""
    return {
        "tenant_id": envelope.tenantid or "",
        "event_id": envelope.id,
        "connection_id": connection_id,
        "type": envelope.type,
        "platform_id": platform_id,
        "outcome": outcome,
        "code": getattr(rejection, "code", None),
        "message": getattr(rejection, "message", None),
        "hint": getattr(rejection, "hint", None) or None,
        "problems": [p.as_dict() for p in getattr(rejection, "problems", [])],
        "envelope": envelope.model_dump(mode="json", exclude_none=True) if outcome == "waiting" else None,
        "hold_until": hold_until,
    }


async def record_outcome(session: AsyncSession, **outcome: Any) -> None:
    """What became of a platform event (the keywords of ``outcome_row``)."""
    await record_outcomes(session, rows=[outcome_row(**outcome)])


async def record_outcomes(session: AsyncSession, *, rows: Sequence[Mapping[str, Any]]) -> None:
    """What became of platform events (one row per tenant and event id, the latest outcome): one
    statement; an event named twice keeps its last row."""
    last = {(r["tenant_id"], r["event_id"]): r for r in rows}
    if last:
        await session.execute(_record_outcomes(tuple(next(iter(last.values())))), list(last.values()))


@functools.cache
def _record_outcomes(columns: tuple[str, ...]) -> Any:
    """The upsert of outcome rows of these ``columns``, built once (the rows go as parameters)."""
    t = models.platform_events
    stmt = insert(t).values(updated_at=func.now())
    keep = [c.name for c in t.columns if c.name in (*columns, "updated_at")]
    return stmt.on_conflict_do_update(
        index_elements=["tenant_id", "event_id"],
        set_={k: stmt.excluded[k] for k in keep if k not in ("tenant_id", "event_id")},
    )


async def reference_imported(session: AsyncSession, *, realm_id: str) -> bool:
    """Whether the company's reference import has ended at least once."""
    t = models.reference_imports
    found = await session.execute(select(t.c.realm_id).where(t.c.realm_id == realm_id))
    return found.first() is not None


async def lock_import_state(session: AsyncSession, *, realm_id: str) -> None:
    """Serialise, for one realm, "the import has ended, release what waits" with "not imported yet,
    hold this event" until the caller's transaction ends.

    Without it an event read "not imported" while the end of the import was being committed, and
    was held after that import had released the waiting ones: it waited for the overdue release
    (two minutes) instead of being mapped at once.
    """
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"mapper.reference-import:{realm_id}"}
    )


async def mark_imported(
    session: AsyncSession, *, realm_id: str, connection_id: str, status: str, counts: dict[str, int]
) -> None:
    """Record that the realm's lists are in; the caller then releases the events held for them."""
    await lock_import_state(session, realm_id=realm_id)
    t = models.reference_imports
    values = {
        "realm_id": realm_id,
        "connection_id": connection_id,
        "status": status,
        "counts": counts,
        "finished_at": func.now(),
    }
    stmt = insert(t).values(**values)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["realm_id"], set_={k: stmt.excluded[k] for k in values if k != "realm_id"}
        )
    )


async def take_held(
    session: AsyncSession, *, realm_id: str | None = None, overdue: bool = False, limit: int = 500
) -> list[Envelope]:
    """Waiting events to map now (locked, oldest first): a company's, or those past their bound."""
    t, c = models.platform_events, models.connections
    query = select(t.c.envelope).where(t.c.outcome == inline("waiting"))
    if realm_id is not None:
        query = query.join(c, c.c.connection_id == t.c.connection_id).where(c.c.realm_id == realm_id)
    if overdue:
        query = query.where(t.c.hold_until <= func.now())
    rows = await session.execute(query.order_by(t.c.seq).limit(limit).with_for_update(of=t, skip_locked=True))
    return [Envelope.model_validate(r.envelope) for r in rows]


async def list_events(
    session: AsyncSession,
    *,
    connection_id: str,
    tenant_id: str,
    outcome: str | None,
    limit: int,
    before: int | None,
) -> list[dict[str, Any]]:
    """A connection's platform events, newest first (``before`` a ``seq`` for the next page), with
    its tenant's events rejected before any connection was looked up (invalid ones, say)."""
    t = models.platform_events
    unattached = and_(
        t.c.connection_id.is_(None),
        t.c.tenant_id == tenant_id,
        # Another platform's refused attempt names this tenant but is that platform's story, not its.
        func.coalesce(t.c.code, "") != "tenant_not_owned",
    )
    query = select(*[col for col in t.c if col.name != "envelope"]).where(
        or_(t.c.connection_id == connection_id, unattached)
    )
    if outcome is not None:
        query = query.where(t.c.outcome == outcome)
    if before is not None:
        query = query.where(t.c.seq < before)
    rows = await session.execute(query.order_by(t.c.seq.desc()).limit(limit))
    return [dict(r._mapping) for r in rows]


async def missing_from_mirror(
    session: AsyncSession, *, realm_id: str, counts: dict[str, int]
) -> dict[str, int]:
    """Entities of which the mirror holds fewer objects than an import published (not yet applied)."""
    if not counts:
        return {}
    t = models.reference_entities
    rows = await session.execute(
        select(t.c.entity, func.count())
        .where(t.c.realm_id == realm_id, t.c.entity.in_(list(counts)))
        .group_by(t.c.entity)
    )
    have = {entity: int(n) for entity, n in rows.all()}
    return {e: n - have.get(e, 0) for e, n in counts.items() if have.get(e, 0) < n}


# -- summarized journal mode ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JournalDocument:
    day: dt.date | None
    share: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class JournalDay:
    day: dt.date
    generation: int
    posted: bool
    revised_at: dt.datetime | None


async def lock_journal_document(
    session: AsyncSession, *, connection_id: str, document_key: str
) -> JournalDocument | None:
    """A document's row, locked until the transaction ends (None: never seen)."""
    t = models.journal_documents
    row = (
        await session.execute(
            select(t.c.day, t.c.share)
            .where(t.c.connection_id == connection_id, t.c.document_key == document_key)
            .with_for_update()
        )
    ).first()
    return None if row is None else JournalDocument(row.day, row.share)


async def journal_days_present(
    session: AsyncSession, *, connection_id: str, days: set[dt.date]
) -> set[dt.date]:
    """Which of ``days`` already have a summarized journal entry (or one being made)."""
    t = models.journal_days
    stmt = select(t.c.day).where(t.c.connection_id == connection_id, t.c.day.in_(days))
    return set((await session.execute(stmt)).scalars())


async def lock_journal_day(session: AsyncSession, *, connection_id: str, day: dt.date) -> JournalDay:
    """A day's row, created if new and locked: the day's documents are summed one event at a time."""
    t = models.journal_days
    await session.execute(insert(t).values(connection_id=connection_id, day=day).on_conflict_do_nothing())
    row = (
        await session.execute(
            select(t).where(t.c.connection_id == connection_id, t.c.day == day).with_for_update()
        )
    ).one()
    return JournalDay(row.day, row.generation, row.posted, row.revised_at)


async def save_journal_document(
    session: AsyncSession,
    *,
    connection_id: str,
    document_key: str,
    day: dt.date | None,
    share: dict[str, Any] | None,
) -> None:
    t = models.journal_documents
    stmt = insert(t).values(connection_id=connection_id, document_key=document_key, day=day, share=share)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[t.c.connection_id, t.c.document_key],
            set_={"day": day, "share": share, "updated_at": func.now()},
        )
    )


async def journal_shares(
    session: AsyncSession, *, connection_id: str, day: dt.date
) -> list[tuple[str, dict[str, Any]]]:
    """(document key, share) of every document counting for the day."""
    t = models.journal_documents
    rows = await session.execute(
        select(t.c.document_key, t.c.share)
        .where(t.c.connection_id == connection_id, t.c.day == day)
        .order_by(t.c.document_key)
    )
    return [(r.document_key, r.share) for r in rows if r.share is not None]


async def save_journal_day(
    session: AsyncSession,
    *,
    connection_id: str,
    day: dt.date,
    generation: int,
    posted: bool,
    revised_at: dt.datetime,
) -> None:
    t = models.journal_days
    await session.execute(
        t.update()
        .where(t.c.connection_id == connection_id, t.c.day == day)
        .values(generation=generation, posted=posted, revised_at=revised_at)
    )
