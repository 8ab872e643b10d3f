"""The /v3/company/{realmId}/... gateway: auth, throttles, injected faults, request log, dispatch."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox import faults, rates, services, taxservice, uploads
from sandbox.asgi import ApiRequest, ApiResponse
from sandbox.faults import QboError
from sandbox.runtime import Runtime, dumps, new_tid
from sandbox.state import Company, Grant

# [U] How long an injected "timeout" hangs before the gateway gives up with 504.


@dataclass
class Call:
    """What the request log needs to know about one API call."""

    realm_id: str
    client_id: str | None = None
    requestid: str | None = None
    entity: str | None = None
    operation: str | None = None
    fault_code: str | None = None
    items: list[dict[str, str | None]] | None = None
    tid: str = field(default_factory=new_tid)


def fault_response(error: QboError, call: Call) -> ApiResponse:
    call.fault_code = error.code
    return ApiResponse(error.status, dumps(faults.fault_body(error)), call.tid)


def ok(body: object, call: Call) -> ApiResponse:
    return ApiResponse(200, dumps(body), call.tid)


def handler(rt: Runtime) -> Callable[[ApiRequest], Awaitable[ApiResponse]]:
    """The /v3 handler bound to one runtime."""

    async def v3(request: ApiRequest) -> ApiResponse:
        """Any /v3/company/{realmId}/... call → QBO's answer, logged."""
        call = Call(realm_id=request.realm_id, requestid=request.params.get("requestid"))
        try:
            response = await _gateway(rt, request, call)
        # QBO answers anything unexpected with a SystemFault 500 rather than dropping the connection.
        except Exception:  # noqa: BLE001
            response = fault_response(faults.system_fault(), call)
        rt.state.record(
            realm_id=call.realm_id,
            client_id=call.client_id,
            method=request.method,
            path=request.path,
            query=request.query,
            status=response.status,
            requestid=call.requestid,
            fault_code=call.fault_code,
            entity=call.entity,
            operation=call.operation,
            intuit_tid=call.tid,
            items=call.items,
        )
        return response

    return v3


def _authenticate(rt: Runtime, request: ApiRequest, call: Call) -> Grant | ApiResponse:
    header = request.authorization
    token = header[7:].strip() if header[:7].lower() == "bearer " else ""
    found = rt.state.access_tokens.get(token) if token else None
    grant = rt.state.grants.get(found[0]) if found else None
    detail = None
    if not token:
        detail = "Authorization header missing or not a bearer token"
    elif found is None or grant is None:
        detail = "Malformed bearer token: too short or too long" if len(token) < 20 else "Token invalid"
    elif grant.revoked:
        detail = "Token revoked"
    elif found[1] <= time.time():
        detail = f"Token expired: {token[:16]}..."
    if detail is not None or grant is None:
        call.fault_code = "3200"
        return ApiResponse(401, dumps(faults.auth_failed(detail or "")), call.tid)
    call.client_id = grant.client_id
    if grant.realm_id != call.realm_id or call.realm_id not in rt.state.companies:
        call.fault_code = "3100"
        return ApiResponse(403, dumps(faults.authz_failed()), call.tid)
    return grant


async def _gateway(rt: Runtime, request: ApiRequest, call: Call) -> ApiResponse:
    grant = _authenticate(rt, request, call)
    if isinstance(grant, ApiResponse):
        return grant
    is_batch = request.rest.rstrip("/").lower() == "batch"
    if not rt.limits.acquire(call.realm_id, grant.client_id, is_batch=is_batch):
        return fault_response(faults.throttled(), call)
    try:
        injected = await _inject(rt, request, call)
        if injected is not None:
            return injected
        company = rt.state.companies[call.realm_id]
        answer = await _dispatch(rt, request, company, call)
        return await _timeout_after_write(rt, request, call, answer)
    finally:
        rt.limits.release(call.realm_id, grant.client_id)


async def _inject(rt: Runtime, request: ApiRequest, call: Call) -> ApiResponse | None:
    settings = rt.faults.for_request(call.realm_id, request.path)
    if settings is None:
        return None
    if settings.throttle_next > 0:
        settings.throttle_next -= 1
        return fault_response(faults.throttled(), call)
    delay = settings.latency_seconds()
    if delay:
        await asyncio.sleep(delay)
    if settings.timeout_rate and random.random() < settings.timeout_rate:
        await asyncio.sleep(settings.timeout_seconds)
        call.fault_code = "504"
        return ApiResponse(504, b"Gateway Timeout", call.tid, b"text/plain")
    if settings.error_rate and random.random() < settings.error_rate:
        error = faults.system_fault()
        error.status = settings.error_status
        return fault_response(error, call)
    return None


async def _timeout_after_write(
    rt: Runtime, request: ApiRequest, call: Call, answer: ApiResponse
) -> ApiResponse:
    """A write that succeeded, answered (sometimes, when set) with a timeout instead of its result."""
    settings = rt.faults.for_request(call.realm_id, request.path)
    if settings is None:
        return answer
    rate = settings.timeout_after_write_rate
    writes = call.operation not in (None, "query", "cdc", "read", "send")
    if not (rate and writes and request.method == "POST" and answer.status == 200 and random.random() < rate):
        return answer
    await asyncio.sleep(settings.timeout_seconds)
    call.fault_code = "504"
    return ApiResponse(504, b"Gateway Timeout", call.tid, b"text/plain")


async def _dispatch(rt: Runtime, request: ApiRequest, company: Company, call: Call) -> ApiResponse:
    parts = [p for p in request.rest.split("/") if p]
    params = request.params
    head = parts[0].lower() if parts else ""
    try:
        if head == "query":
            statement = params.get("query", "") if request.method == "GET" else request.body.decode()
            call.operation = "query"
            body: Any = services.query_response(company, statement, include=params.get("include"))
        elif head == "cdc" and request.method == "GET":
            call.operation = "cdc"
            body = services.cdc(
                company, entities=params.get("entities", ""), since=params.get("changedSince", "")
            )
        elif head == "batch" and request.method == "POST":
            call.operation = "batch"
            return await _batch(rt, request, company, call)
        elif request.method == "GET" and len(parts) >= 2:
            call.entity, call.operation = services.entity_name(parts[0]), "read"
            if len(parts) == 3 and parts[2].lower() == "pdf":
                return ApiResponse(
                    200, services.pdf(company, call.entity, parts[1]), call.tid, b"application/pdf"
                )
            body = services.read(company, call.entity, parts[1], include=params.get("include"))
        elif (named := _named(rt, request, company, call, parts)) is not None:
            body = named
        elif request.method == "POST" and len(parts) == 1:
            return await _write(rt, request, company, call, services.entity_name(parts[0]))
        else:
            raise QboError(
                "404", "Unsupported Operation", f"Unknown resource: /{'/'.join(parts)}", "", status=404
            )
    except QboError as error:
        return fault_response(error, call)
    return ok(body, call)


def _named(rt: Runtime, request: ApiRequest, company: Company, call: Call, parts: list[str]) -> Any:
    """The resources with a fixed name (exchangerate, upload, preferences, send, taxservice); else None."""
    method, head, params = request.method, parts[0].lower() if parts else "", request.params
    body: Any = None
    if method == "GET" and head == "exchangerate":
        call.entity, call.operation = "ExchangeRate", "read"
        body = services.envelope(company, "ExchangeRate", rates.read(company, params))
    elif method == "POST" and head == "upload" and len(parts) == 1:
        call.entity, call.operation = "Attachable", "upload"
        uploaded: list[Any] = []
        body = uploads.upload(company, request.content_type, request.body, uploaded)
        body["time"] = services.envelope(company, "Attachable", {})["time"]
        rt.emit(company, uploaded)
    elif method == "GET" and head == "preferences":
        call.entity, call.operation = "Preferences", "read"
        body = services.read(company, "Preferences", "1")
    elif method == "POST" and len(parts) == 3 and parts[2].lower() == "send":
        call.entity, call.operation = services.entity_name(parts[0]), "send"
        changes: list[Any] = []
        body = services.send(company, call.entity, parts[1], params.get("sendTo"), changes)
        rt.emit(company, changes)
    elif method == "POST" and [p.lower() for p in parts] == ["taxservice", "taxcode"]:
        call.entity, call.operation = "TaxCode", "create"
        body = taxservice.tax_service(company, services.parse_body(request.body))
    return body


async def _write(rt: Runtime, request: ApiRequest, company: Company, call: Call, entity: str) -> ApiResponse:
    call.entity = entity
    params = request.params
    call.operation = services.operation_of(params.get("operation"), params.get("include"))
    replayed = services.replayed(company, call.requestid, key_extra="")
    if replayed is not None:
        call.operation = f"{call.operation}:replay"
        return ApiResponse(replayed[0], replayed[1], call.tid)
    changes: list[Any] = []
    try:
        payload = services.parse_body(request.body)
        body, call.operation = services.write(
            company,
            entity,
            payload,
            operation=params.get("operation"),
            include=params.get("include"),
            changes=changes,
        )
    except QboError as error:
        return fault_response(error, call)
    encoded = dumps(body)
    services.remember(company, call.requestid, key_extra="", status=200, body=encoded)
    rt.emit(company, changes)
    return ApiResponse(200, encoded, call.tid)


async def _batch(rt: Runtime, request: ApiRequest, company: Company, call: Call) -> ApiResponse:
    try:
        payload = services.parse_body(request.body)
        items = services.batch_items(payload)
    except QboError as error:
        return fault_response(error, call)
    key_extra = "batch:" + ",".join(str(i.get("bId")) for i in items)
    replayed = services.replayed(company, call.requestid, key_extra=key_extra)
    if replayed is not None:
        call.operation = "batch:replay"
        return ApiResponse(replayed[0], replayed[1], call.tid)
    changes: list[Any] = []
    body, call.items = services.run_batch(company, items, changes)
    encoded = dumps(body)
    services.remember(company, call.requestid, key_extra=key_extra, status=200, body=encoded)
    rt.emit(company, changes)
    return ApiResponse(200, encoded, call.tid)
