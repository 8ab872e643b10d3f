"""The QBO Accounting API client every service uses (reference §2-§5).

Every call: a slot from the realm limiter, ``Accept: application/json``, ``minorversion``; a 401
fetches a fresh token and retries once; faults become ``shared.qbo.errors`` exceptions carrying
``intuit_tid``; a network failure becomes ``QboUnavailable`` (for a write: outcome unknown).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx

from shared.qbo import observe
from shared.qbo.budget import retry_after_seconds
from shared.qbo.errors import QboThrottled, QboUnauthorized, QboUnavailable, error_for, parse_fault
from shared.qbo.limits import RealmLimiter
from shared.qbo.tokens import AccessToken, TokenSource

# Voids that QBO does as a sparse update with include=void rather than operation=void (§2.7).
VOID_BY_UPDATE = frozenset({"Payment", "SalesReceipt", "RefundReceipt", "BillPayment"})
THROTTLED_READ_RETRIES = 2  # a read throttled twice more goes back to its caller's own retries
THROTTLE_PAUSE_SECONDS = 60.0  # Intuit's guidance after a 429 (§6.3): the longest pause of the backoff


def path_segment(entity: str) -> str:
    """The URL segment of an entity: always lowercase (§2.1)."""
    return entity.lower()


def quote(value: str) -> str:
    """A string literal of the query language (backslash-escaped quotes, §3.1)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class QboClient:
    """Calls one connection's QBO company; stateless apart from the shared limiter and tokens."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        tokens: TokenSource,
        limiter: RealmLimiter | None = None,
        minor_version: int = 75,
        throttle_pause_seconds: float = THROTTLE_PAUSE_SECONDS,
    ) -> None:
        self._http, self._tokens, self._limiter = http, tokens, limiter
        self._minor_version, self._throttle_pause = minor_version, throttle_pause_seconds

    async def read(self, connection_id: str, entity: str, qbo_id: str) -> dict[str, Any]:
        """The object ``entity``/``qbo_id`` (its body, without the envelope)."""
        body = await self._call(connection_id, "GET", f"{path_segment(entity)}/{qbo_id}")
        return _entity_of(body, entity)

    async def query(self, connection_id: str, statement: str) -> dict[str, Any]:
        """The ``QueryResponse`` object of a query statement."""
        body = await self._call(
            connection_id, "POST", "query", content=statement.encode(), content_type="application/text"
        )
        found: dict[str, Any] = body.get("QueryResponse") or {}
        return found

    async def query_all(
        self, connection_id: str, entity: str, where: str = "", page_size: int = 1000
    ) -> AsyncIterator[dict[str, Any]]:
        """Every ``entity`` matching ``where``, paging with STARTPOSITION/MAXRESULTS."""
        start = 1
        clause = f" WHERE {where}" if where else ""
        while True:
            # QBO query language, not SQL: values are quoted with quote() by the callers.
            statement = f"SELECT * FROM {entity}{clause} STARTPOSITION {start} MAXRESULTS {page_size}"  # noqa: S608
            rows = (await self.query(connection_id, statement)).get(entity, [])
            for row in rows:
                yield row
            if len(rows) < page_size:
                return
            start += len(rows)

    async def find_by(
        self, connection_id: str, entity: str, field: str, values: Sequence[str]
    ) -> list[dict[str, Any]]:
        """Objects of ``entity`` whose ``field`` is one of ``values``, inactive ones included."""
        if not values:
            return []
        literals = ", ".join(quote(v) for v in values)
        where = f"{field} IN ({literals})"
        if entity in ("Customer", "Vendor", "Item", "Employee", "Account"):
            where += " AND Active IN (true, false)"
        return [row async for row in self.query_all(connection_id, entity, where)]

    async def cdc(
        self, connection_id: str, entities: Sequence[str], changed_since: dt.datetime
    ) -> dict[str, list[dict[str, Any]]]:
        """Changed objects per entity since ``changed_since`` (deletes as ``status: Deleted`` stubs)."""
        params = {"entities": ",".join(entities), "changedSince": changed_since.isoformat()}
        body = await self._call(connection_id, "GET", "cdc", params=params)
        changed: dict[str, list[dict[str, Any]]] = {entity: [] for entity in entities}
        for response in body.get("CDCResponse") or []:
            for chunk in response.get("QueryResponse") or []:
                for key, value in chunk.items():
                    if isinstance(value, list):
                        changed.setdefault(key, []).extend(value)
        return changed

    async def create(
        self, connection_id: str, entity: str, body: dict[str, Any], *, requestid: str
    ) -> dict[str, Any]:
        """Create an object; the same ``requestid`` returns the first result instead of a duplicate."""
        answer = await self._call(
            connection_id, "POST", path_segment(entity), json_body=body, requestid=requestid
        )
        return _entity_of(answer, entity)

    async def update(
        self, connection_id: str, entity: str, body: dict[str, Any], *, requestid: str, sparse: bool = True
    ) -> dict[str, Any]:
        """Update an object (``body`` carries ``Id`` and ``SyncToken``); sparse unless told otherwise."""
        payload = {**body, "sparse": sparse}
        answer = await self._call(
            connection_id, "POST", path_segment(entity), json_body=payload, requestid=requestid
        )
        return _entity_of(answer, entity)

    async def void(
        self, connection_id: str, entity: str, *, qbo_id: str, sync_token: str, requestid: str
    ) -> dict[str, Any]:
        """Void a transaction the way QBO does it for ``entity`` (§2.7)."""
        body: dict[str, Any] = {"Id": qbo_id, "SyncToken": sync_token}
        if entity in VOID_BY_UPDATE:
            params = {"operation": "update", "include": "void"}
            body["sparse"] = True
        else:
            params = {"operation": "void"}
        answer = await self._call(
            connection_id, "POST", path_segment(entity), json_body=body, requestid=requestid, params=params
        )
        return _entity_of(answer, entity)

    async def delete(
        self, connection_id: str, entity: str, *, qbo_id: str, sync_token: str, requestid: str
    ) -> dict[str, Any]:
        """Delete a transaction (lists are deactivated with a sparse ``Active: false`` update instead)."""
        answer = await self._call(
            connection_id,
            "POST",
            path_segment(entity),
            json_body={"Id": qbo_id, "SyncToken": sync_token},
            requestid=requestid,
            params={"operation": "delete"},
        )
        return _entity_of(answer, entity)

    async def batch(
        self, connection_id: str, items: list[dict[str, Any]], *, requestid: str
    ) -> list[dict[str, Any]]:
        """``BatchItemResponse`` of up to 30 items; each item's ``Fault`` is left in place."""
        if len(items) > 30:
            raise ValueError("QBO takes at most 30 items per batch")
        answer = await self._call(
            connection_id,
            "POST",
            "batch",
            json_body={"BatchItemRequest": items},
            requestid=requestid,
            batch=True,
        )
        found: list[dict[str, Any]] = answer.get("BatchItemResponse") or []
        return found

    async def company_info(self, connection_id: str) -> dict[str, Any]:
        """The company's ``CompanyInfo``."""
        token = await self._tokens.get(connection_id)
        body = await self._call(connection_id, "GET", f"companyinfo/{token.realm_id}")
        return _entity_of(body, "CompanyInfo")

    async def preferences(self, connection_id: str) -> dict[str, Any]:
        """The company's ``Preferences``."""
        return _entity_of(await self._call(connection_id, "GET", "preferences"), "Preferences")

    async def _call(
        self,
        connection_id: str,
        method: str,
        path: str,
        *,
        json_body: dict[str, Any] | None = None,
        content: bytes | None = None,
        content_type: str = "application/json",
        params: dict[str, str] | None = None,
        requestid: str | None = None,
        batch: bool = False,
    ) -> dict[str, Any]:
        query = {**(params or {}), "minorversion": str(self._minor_version)}
        if requestid is not None:
            query["requestid"] = requestid
        data = content if json_body is None else json.dumps(json_body).encode()
        is_read = method == "GET" or path == "query"
        for attempt in range(1 + THROTTLED_READ_RETRIES):
            try:
                return await self._authorised(connection_id, method, path, query, data, content_type, batch)
            except QboThrottled:
                # The realm now pauses in the limiter; a read simply asks again once the pause is
                # over (writes go back to their caller, which owns their retries and requestids).
                if not is_read or self._limiter is None or attempt == THROTTLED_READ_RETRIES:
                    raise
        raise AssertionError("unreachable")

    async def _authorised(
        self,
        connection_id: str,
        method: str,
        path: str,
        query: dict[str, str],
        data: bytes | None,
        content_type: str,
        batch: bool,
    ) -> dict[str, Any]:
        token = await self._tokens.get(connection_id)
        try:
            return await self._send(token, method, path, query, data, content_type, batch=batch)
        except QboUnauthorized:
            # Tokens die early (revoked, rotated elsewhere): one fresh token, one more try.
            token = await self._tokens.get(connection_id, force_refresh=True)
            return await self._send(token, method, path, query, data, content_type, batch=batch)

    async def _send(
        self,
        token: AccessToken,
        method: str,
        path: str,
        query: dict[str, str],
        data: bytes | None,
        content_type: str,
        *,
        batch: bool,
    ) -> dict[str, Any]:
        url = f"{token.api_base.rstrip('/')}/v3/company/{token.realm_id}/{path}"
        headers = {"Authorization": f"Bearer {token.access_token}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = content_type
        with observe.qbo_call(token.realm_id, method, path, operation=query.get("operation")) as call:
            response = await self._exchange(token.realm_id, method, url, query, headers, data, batch=batch)
            fault = parse_fault(response.status_code, response.content, response.headers)
            call.finished(response.status_code, response.headers, fault)
        if fault is not None:
            error = error_for(fault)
            if isinstance(error, QboThrottled) and self._limiter is not None:
                retry_after = retry_after_seconds(response.headers, now=dt.datetime.now(dt.UTC))
                await self._limiter.throttled(
                    token.realm_id, seconds=self._throttle_pause, retry_after=retry_after
                )
            raise error
        body: dict[str, Any] = response.json()
        return body

    async def _exchange(
        self,
        realm_id: str,
        method: str,
        url: str,
        query: dict[str, str],
        headers: dict[str, str],
        data: bytes | None,
        *,
        batch: bool,
    ) -> httpx.Response:
        try:
            if self._limiter is None:
                return await self._http.request(method, url, params=query, headers=headers, content=data)
            asked = time.perf_counter()
            async with self._limiter.slot(realm_id, batch=batch):
                observe.limiter_waited(time.perf_counter() - asked, batch=batch)
                return await self._http.request(method, url, params=query, headers=headers, content=data)
        except httpx.HTTPError as exc:
            # Once the request may have left, a write may have happened: the caller must look it up.
            is_write = method == "POST" and not url.endswith("/query")
            sent = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
            raise QboUnavailable(
                f"QBO unreachable: {type(exc).__name__}", outcome_unknown=is_write and sent
            ) from exc


def _entity_of(body: dict[str, Any], entity: str) -> dict[str, Any]:
    found = body.get(entity)
    if not isinstance(found, dict):
        # Some answers name the entity differently (e.g. the case); take the one object there is.
        found = next(
            (v for k, v in body.items() if k.lower() == entity.lower() and isinstance(v, dict)), None
        )
    if not isinstance(found, dict):
        raise ValueError(f"QBO answer has no {entity}: {list(body)}")
    return found
