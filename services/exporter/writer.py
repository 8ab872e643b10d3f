"""Writing one realm's claimed jobs to QBO: look up, then batch or send one by one, then record.

Nothing here decides *whether* to retry: failures go to ``Outcomes.error``. What is decided here
is how to write without duplicates: a create with a match key is preceded by a lookup (which also
resolves a write whose reply was lost); a create without one goes alone, so its ``requestid``
replay protects it; updates carry the latest SyncToken and re-read it once on 5010.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.exporter import repository, service
from services.exporter.outcomes import Outcomes
from services.exporter.service import Job, LinkKey, Unlinked
from services.exporter.settings import ExporterSettings
from shared.crashpoints import crash_point
from shared.qbo.client import QboClient
from shared.qbo.errors import QboFault, QboStale, error_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Write:
    """A job ready to send: the QBO operation and body (for void/delete: the target)."""

    job: Job
    operation: str  # create | update | void | delete
    body: dict[str, Any]
    fingerprint: str | None = None  # of the platform's data in the body, kept with the link


@dataclass(frozen=True)
class Skip:
    """Nothing to send: ``note`` says why; ``qbo_id`` when the object is in QBO (reported)."""

    note: str
    qbo_id: str | None = None
    report: bool = False


@dataclass(frozen=True)
class Unchanged:
    """A list object whose platform data is what the bridge last wrote: no call."""

    obj: dict[str, Any]


@dataclass(frozen=True)
class Wait:
    """The object is not in QBO yet: wait for its creation (bounded)."""

    note: str


Plan = Write | Skip | Unchanged | Wait
Holds = Callable[[Job], bool]


class RealmWriter:
    """Writes one realm's jobs; one instance per dispatcher."""

    def __init__(
        self,
        *,
        client: QboClient,
        outcomes: Outcomes,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: ExporterSettings,
    ) -> None:
        self._client, self._outcomes = client, outcomes
        self._sessionmaker, self._settings = sessionmaker, settings
        self._holds: Holds = lambda _job: True

    async def write(self, jobs: list[Job], *, holds: Holds | None = None) -> None:
        """Write ``jobs`` (all of one realm, ready, in order); every job ends with an outcome.

        ``holds`` says whether this process still holds a job's lease: checked before each send, so
        a process that stalled past its lease (another took the job over) never writes it too.
        """
        self._holds = holds or (lambda _job: True)
        links = await self._links(jobs)
        found, failed = await self._lookups(jobs, links)
        matches = await self._matches(jobs)
        ids = {key: str(row["qbo_id"]) for key, row in links.items()}
        writes: list[Write] = []
        for job in jobs:
            if job.id in failed:
                continue
            if job.operation == "create" and job.id in found:
                await self._adopt(job, found[job.id], ids, matches)
                continue
            write = await self._guard(job, functools.partial(self._plan, job, links, ids, matches))
            if write is not None:
                writes.append(write)
        grouped = [w for w in writes if service.batchable(w.job)]
        alone = [w for w in writes if not service.batchable(w.job)]
        if len(grouped) < 2:
            alone, grouped = grouped + alone, []
        gate = asyncio.Semaphore(self._settings.realm_parallel)
        await asyncio.gather(
            *(self._batch(chunk) for chunk in service.chunks(grouped, self._settings.batch_size)),
            *(self._single_gated(gate, w) for w in alone),
        )

    async def _links(self, jobs: list[Job]) -> dict[LinkKey, RowMapping]:
        by_connection: dict[str, list[LinkKey]] = defaultdict(list)
        for job in jobs:
            refs = [*service.link_refs(job.payload), *service.link_refs(job.match or {})]
            by_connection[job.connection_id] += [job.key, *refs]
        found: dict[LinkKey, RowMapping] = {}
        async with self._sessionmaker() as session:
            for connection_id, keys in by_connection.items():
                found |= await repository.linked(session, connection_id=connection_id, keys=keys)
        return found

    async def _lookups(
        self, jobs: list[Job], links: Mapping[LinkKey, RowMapping]
    ) -> tuple[dict[str, dict[str, Any]], set[str]]:
        """QBO objects already carrying a create's match key (one query per entity and field), and the
        jobs whose lookup failed (their outcome is recorded). Only creates look: an update, void or
        delete acts on what the bridge linked, never on a document found by its number."""
        wanted: dict[tuple[str, str, str], list[Job]] = defaultdict(list)
        for job in jobs:
            if job.operation == "create" and job.key not in links and job.match_field and job.match_value:
                wanted[(job.connection_id, job.entity, job.match_field)].append(job)
        found: dict[str, dict[str, Any]] = {}
        failed: set[str] = set()
        for (connection_id, entity, field), group in wanted.items():
            values = sorted({j.match_value or "" for j in group})
            try:
                rows = await self._client.find_by(connection_id, entity, field, values)
            except Exception as exc:  # noqa: BLE001 - each job records the failure as its outcome
                for job in group:
                    await self._outcomes.error(job, exc)
                    failed.add(job.id)
                continue
            by_value: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for row in rows:
                by_value[str(row.get(field, "")).lower()].append(row)
            for job in group:
                candidates = by_value.get((job.match_value or "").lower(), [])
                if candidates:
                    found[job.id] = _best(job, candidates, links)
        return found, failed

    async def _adopt(
        self,
        job: Job,
        obj: dict[str, Any],
        ids: Mapping[LinkKey, str],
        matches: Mapping[service.MatchKey, list[service.Found]],
    ) -> None:
        """A create whose match key QBO already has: adopt it if it is this document, else refuse."""
        party = _party_id(job, ids)
        refusal = service.adoption_refusal(job, obj, party_id=party)
        if refusal is not None:
            await self._outcomes.error(job, refusal)
            return
        try:
            body = service.resolve_links(job.payload, ids, matches)
        except Exception:  # noqa: BLE001 - the fingerprint is an optimisation; no body, no fingerprint
            body = None
        operation = service.reported_operation(job, found_existing=True)
        fingerprint = service.fingerprint(body) if body is not None else None
        await self._outcomes.succeeded(job, obj, operation=operation, fingerprint=fingerprint)

    async def _matches(self, jobs: list[Job]) -> dict[service.MatchKey, list[service.Found]]:
        """QBO ids (and parties) of the objects payloads name by a match key (one query per entity
        and field). A failed lookup leaves its keys out; the job then retries as ``Unmatched``."""
        wanted: dict[tuple[str, str, str], set[str]] = defaultdict(set)
        for job in jobs:
            for entity, field, value in service.match_refs(job.payload):
                wanted[(job.connection_id, entity, field)].add(value)
        found: dict[service.MatchKey, list[service.Found]] = defaultdict(list)
        for (connection_id, entity, field), values in wanted.items():
            try:
                rows = await self._client.find_by(connection_id, entity, field, sorted(values))
            except Exception:
                log.warning("match-key lookup failed", exc_info=True, extra={"entity": entity})
                continue
            for row in rows:
                key = (entity, field, str(row.get(field, "")).lower())
                found[key].append((str(row["Id"]), service.party_of(row)))
        return found

    def _plan(
        self,
        job: Job,
        links: Mapping[LinkKey, RowMapping],
        ids: Mapping[LinkKey, str],
        matches: Mapping[service.MatchKey, list[service.Found]],
    ) -> Plan:
        """What to do for one job: a write, nothing (and why), or wait for the object's creation."""
        link = links.get(job.key)
        if link is None:
            if job.operation == "create":
                body = service.resolve_links(job.payload, ids, matches)
                return Write(job, "create", body, service.fingerprint(body))
            if job.if_absent == "skip":
                return Skip(
                    f"nothing to {job.operation}: {job.entity} {job.platform_id} is not in QuickBooks"
                )
            return Wait(service.waiting_for_create_note(job))
        qbo_id, token = str(link["qbo_id"]), str(link["sync_token"] or "0")
        if service.superseded(job, link["event_time"]):
            note = f"superseded: a newer event for {job.entity} {job.platform_id} was already applied"
            return Skip(note, qbo_id=qbo_id, report=True)
        if job.operation in ("create", "update"):
            body = service.resolve_links(job.payload, ids, matches)
            if job.operation == "create" and service.unchanged(job, body, link["fingerprint"]):
                return Unchanged({"Id": qbo_id, "SyncToken": token, "DocNumber": link["doc_number"]})
            # A create for an object already linked (a new source event) must not make a second one.
            update = service.update_body(body, qbo_id=qbo_id, sync_token=token)
            return Write(job, "update", update, service.fingerprint(body))
        if job.operation == "delete" and job.entity in service.LIST_ENTITIES:
            return Write(job, "update", service.deactivate_body(qbo_id=qbo_id, sync_token=token))
        return Write(job, job.operation, {"Id": qbo_id, "SyncToken": token})

    async def _guard(self, job: Job, plan: Callable[[], Plan]) -> Write | None:
        try:
            result = plan()
        except Unlinked as exc:
            await self._outcomes.waiting(
                job, note=service.waiting_note([{"entity": exc.key[0], "platform_id": exc.key[1]}])
            )
            return None
        except Exception as exc:  # noqa: BLE001 - recorded as the job's outcome
            await self._outcomes.error(job, exc)
            return None
        if isinstance(result, Skip):
            await self._outcomes.skipped(job, note=result.note, qbo_id=result.qbo_id, report=result.report)
            return None
        if isinstance(result, Unchanged):
            await self._outcomes.succeeded(job, result.obj, operation="update", report=False)
            return None
        if isinstance(result, Wait):
            await self._outcomes.wait_for_creation(job, note=result.note)
            return None
        return result

    async def _single_gated(self, gate: asyncio.Semaphore, write: Write) -> None:
        async with gate:
            await self._single(write)

    async def _single(self, write: Write) -> None:
        job = write.job
        if not self._holds(job):
            log.warning("lease lost before sending; another worker takes the job", extra={"job_id": job.id})
            return
        try:
            obj = await self._send(write, requestid=job.requestid)
        except QboStale:
            await self._after_stale(write)
            return
        except Exception as exc:  # noqa: BLE001 - recorded as the job's outcome
            if job.operation == "delete" and job.in_doubt and getattr(exc, "code", "") == "610":
                await self._outcomes.succeeded(job, {"Id": write.body["Id"]}, operation="delete")
                return
            await self._outcomes.error(job, exc)
            return
        await self._succeeded(write, obj)

    async def _succeeded(self, write: Write, obj: dict[str, Any]) -> None:
        crash_point("exporter.after_write")
        operation = service.write_operation(write.job, write.operation)
        await self._outcomes.succeeded(write.job, obj, operation=operation, fingerprint=write.fingerprint)

    async def _after_stale(self, write: Write) -> None:
        """5010: someone changed the object; re-read its SyncToken and write once more."""
        job = write.job
        try:
            current = await self._client.read(job.connection_id, job.entity, str(write.body["Id"]))
            fresh = Write(job, write.operation, {**write.body, "SyncToken": str(current["SyncToken"])})
            obj = await self._send(fresh, requestid=f"{job.requestid}-s{current['SyncToken']}")
        except Exception as exc:  # noqa: BLE001 - recorded as the job's outcome
            await self._outcomes.error(job, exc)
            return
        await self._succeeded(write, obj)

    def _send(self, write: Write, *, requestid: str) -> Awaitable[dict[str, Any]]:
        job, c = write.job, self._client
        if write.operation == "create":
            return c.create(job.connection_id, job.entity, write.body, requestid=requestid)
        if write.operation == "update":
            return c.update(job.connection_id, job.entity, write.body, requestid=requestid)
        qbo_id, token = str(write.body["Id"]), str(write.body["SyncToken"])
        if write.operation == "void":
            return c.void(job.connection_id, job.entity, qbo_id=qbo_id, sync_token=token, requestid=requestid)
        return c.delete(job.connection_id, job.entity, qbo_id=qbo_id, sync_token=token, requestid=requestid)

    async def _batch(self, writes: list[Write]) -> None:
        """One batch request; each item's answer (object or Fault) is that job's outcome."""
        items = [
            service.batch_item(f"b{i}", entity=w.job.entity, operation=w.operation, body=w.body)
            for i, w in enumerate(writes)
        ]
        if not all(self._holds(w.job) for w in writes):
            log.warning("lease lost before sending a batch; another worker takes its jobs")
            return
        requestid = service.batch_request_id([w.job.requestid for w in writes])
        try:
            answers = await self._client.batch(writes[0].job.connection_id, items, requestid=requestid)
        except Exception as exc:  # noqa: BLE001 - every job of the batch records the failure
            for w in writes:
                await self._outcomes.error(w.job, exc)
            return
        by_bid = {str(a.get("bId")): a for a in answers}
        for i, w in enumerate(writes):
            await self._batch_item(w, by_bid.get(f"b{i}"))

    async def _batch_item(self, write: Write, answer: dict[str, Any] | None) -> None:
        job = write.job
        obj = None if answer is None else answer.get(job.entity)
        if isinstance(obj, dict):
            await self._succeeded(write, obj)
            return
        fault = _item_fault(answer)
        error = error_for(fault)
        if isinstance(error, QboStale):
            await self._after_stale(write)
            return
        await self._outcomes.error(job, error)


def _item_fault(answer: dict[str, Any] | None) -> QboFault:
    if answer is None or not isinstance(answer.get("Fault"), dict):
        return QboFault("batch_item_missing", "no answer for this item", "", "", 500, None, answer or {})
    errors = answer["Fault"].get("Error") or [{}]
    first = errors[0]
    return QboFault(
        str(first.get("code", "")),
        str(first.get("Message", "")),
        str(first.get("Detail", "")),
        str(first.get("element") or ""),
        400,
        None,
        {"Fault": answer["Fault"]},
    )


def _party_id(job: Job, ids: Mapping[LinkKey, str]) -> str | None:
    """The QBO id of the party a create's match names (its customer or vendor), if resolvable."""
    party = (job.match or {}).get("party")
    if party is None:
        return None
    try:
        resolved = service.resolve_links(party, ids)
    except Unlinked:
        return None
    return None if not isinstance(resolved, dict) else str(resolved.get("value"))


def _best(job: Job, candidates: list[dict[str, Any]], links: Mapping[LinkKey, RowMapping]) -> dict[str, Any]:
    """Of the QBO objects with a create's match key, the one of its party if there is one."""
    ids = {key: str(row["qbo_id"]) for key, row in links.items()}
    party = _party_id(job, ids)
    return next((c for c in candidates if service.party_of(c) == party), candidates[0])
