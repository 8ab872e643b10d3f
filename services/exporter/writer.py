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
from shared.errors import PermanentError
from shared.qbo.client import QboClient
from shared.qbo.errors import QboFault, QboStale, error_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Write:
    """A job ready to send: the QBO operation and body (for void/delete: the target)."""

    job: Job
    operation: str  # create | update | void | delete
    body: dict[str, Any]


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

    async def write(self, jobs: list[Job]) -> None:
        """Write ``jobs`` (all of one realm, ready, in order); every job ends with an outcome."""
        links = await self._links(jobs)
        found, failed = await self._lookups(jobs, links)
        matches = await self._matches(jobs)
        writes: list[Write] = []
        for job in jobs:
            if job.id in failed:
                continue
            if job.operation == "create" and job.id in found:
                operation = service.reported_operation(job, found_existing=True)
                await self._outcomes.succeeded(job, found[job.id], operation=operation)
                continue
            write = await self._guard(job, functools.partial(self._plan, job, links, found, matches))
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
            by_connection[job.connection_id] += [job.key, *service.link_refs(job.payload)]
        found: dict[LinkKey, RowMapping] = {}
        async with self._sessionmaker() as session:
            for connection_id, keys in by_connection.items():
                found |= await repository.linked(session, connection_id=connection_id, keys=keys)
        return found

    async def _lookups(
        self, jobs: list[Job], links: Mapping[LinkKey, RowMapping]
    ) -> tuple[dict[str, dict[str, Any]], set[str]]:
        """QBO objects already carrying a job's match key (one query per entity and field), and the
        jobs whose lookup failed (their outcome is recorded)."""
        wanted: dict[tuple[str, str, str], list[Job]] = defaultdict(list)
        for job in jobs:
            if job.key not in links and job.match_field and job.match_value:
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
            by_value = {str(row.get(field, "")).lower(): row for row in rows}
            for job in group:
                row = by_value.get((job.match_value or "").lower())
                if row is not None:
                    found[job.id] = row
        return found, failed

    async def _matches(self, jobs: list[Job]) -> dict[service.MatchKey, str]:
        """QBO ids of the objects payloads name by a match key (one query per entity and field).

        A failed lookup leaves its keys out; the job then retries as ``Unmatched``.
        """
        wanted: dict[tuple[str, str, str], set[str]] = defaultdict(set)
        for job in jobs:
            for entity, field, value in service.match_refs(job.payload):
                wanted[(job.connection_id, entity, field)].add(value)
        found: dict[service.MatchKey, str] = {}
        for (connection_id, entity, field), values in wanted.items():
            try:
                rows = await self._client.find_by(connection_id, entity, field, sorted(values))
            except Exception:
                log.warning("match-key lookup failed", exc_info=True, extra={"entity": entity})
                continue
            for row in rows:
                found[(entity, field, str(row.get(field, "")).lower())] = str(row["Id"])
        return found

    def _plan(
        self,
        job: Job,
        links: Mapping[LinkKey, RowMapping],
        found: Mapping[str, dict[str, Any]],
        matches: Mapping[service.MatchKey, str],
    ) -> Write | str:
        """The write to make, or why there is none (a note for a skipped job)."""
        ids = {key: str(row["qbo_id"]) for key, row in links.items()}
        if job.operation == "create" and job.key not in links:
            return Write(job, "create", service.resolve_links(job.payload, ids, matches))
        target = self._target(job, links, found)
        if target is None:
            if job.operation == "update":
                raise PermanentError(
                    f"{job.entity} {job.platform_id} is not in QuickBooks, so it cannot be updated",
                    code="not_in_qbo",
                    hint="Send the record's creation first (or link it by its name/number).",
                )
            return f"nothing to {job.operation}: {job.entity} {job.platform_id} is not in QuickBooks"
        qbo_id, token = target
        if job.operation in ("create", "update"):
            # A create for an object already linked (a new source event) must not make a second one.
            body = service.update_body(
                service.resolve_links(job.payload, ids, matches), qbo_id=qbo_id, sync_token=token
            )
            return Write(job, "update", body)
        if job.operation == "delete" and job.entity in service.LIST_ENTITIES:
            return Write(job, "update", service.deactivate_body(qbo_id=qbo_id, sync_token=token))
        return Write(job, job.operation, {"Id": qbo_id, "SyncToken": token})

    @staticmethod
    def _target(
        job: Job, links: Mapping[LinkKey, RowMapping], found: Mapping[str, dict[str, Any]]
    ) -> tuple[str, str] | None:
        link = links.get(job.key)
        if link is not None:
            return str(link["qbo_id"]), str(link["sync_token"] or "0")
        obj = found.get(job.id)
        if obj:
            return str(obj["Id"]), str(obj.get("SyncToken", "0"))
        return None

    async def _guard(self, job: Job, plan: Callable[[], Write | str]) -> Write | None:
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
        if isinstance(result, str):
            await self._outcomes.skipped(job, note=result)
            return None
        return result

    async def _single_gated(self, gate: asyncio.Semaphore, write: Write) -> None:
        async with gate:
            await self._single(write)

    async def _single(self, write: Write) -> None:
        job = write.job
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
        await self._outcomes.succeeded(job, obj, operation=service.write_operation(job, write.operation))

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
        await self._outcomes.succeeded(job, obj, operation=service.write_operation(job, write.operation))

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
            await self._outcomes.succeeded(job, obj, operation=service.write_operation(job, write.operation))
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
