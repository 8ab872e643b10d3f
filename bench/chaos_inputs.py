"""Bad input for ``make chaos``: hand-made poison, hypothesis-made envelopes, schemathesis, webhooks.

Envelopes are drawn by schemathesis from each event's JSON Schema (``docs/schemas/``), valid ones
and invalid ones, then mutated by hypothesis strategies (depth, size, unicode, numbers, missing
and extra fields, broken envelopes, broken AMQP headers). Each goes both to ``POST /v1/events``
and to the broker. Every route's OpenAPI is fuzzed by schemathesis with one tenant's key on
another tenant's ids. Forged and replayed webhooks go to the webhooks receiver. Everything is
drawn with ``derandomize``, so a seed gives the same inputs.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scripts.journey import Tenant
from shared.messaging import topology
from shared.qbo.signature import SIGNATURE_HEADER, sign

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_TYPES = ("invoice.approved", "invoice.updated", "payment.recorded", "customer.upserted")
POISON_BODIES: dict[str, bytes] = {
    "nested-1000": b"[" * 1000 + b"]" * 1000,
    "int-5000-digits": b'{"specversion":"1.0","id":"p2","source":"s","type":"invoice.approved","data":{"n":'
    + b"7" * 5000
    + b"}}",
    "nul": b'{"specversion":"1.0","id":"p3","source":"s","type":"invoice.approved","tenantid":"x\\u0000"}',
    "nan": b'{"specversion":"1.0","id":"p4","source":"s","type":"invoice.approved","data":{"a":NaN}}',
    "not-json": b"{not json",
    "over-1MiB": b'{"x":"' + b"x" * (1024 * 1024 + 10) + b'"}',
}
BAD_HEADERS: list[dict[str, Any]] = [
    {"x-qbb-attempt": "abc"},
    {"x-qbb-attempt": -3},
    {"x-qbb-attempt": 2**62},
    {"x-qbb-attempt": 1.5},
    {"x-qbb-attempt": "1e309"},
    {"x-qbb-routing-key": "x" * 300},
    {"x-delivery-count": "many"},
]


@dataclass
class Inputs:
    """What was sent and how it was answered."""

    kinds: Counter[str] = field(default_factory=Counter)
    http_statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    broker_ids: set[str] = field(default_factory=set)  # ids sent to the broker that must be accounted for
    accepted_ids: set[str] = field(default_factory=set)  # ids POST /v1/events accepted (202)
    cross_tenant_leaks: list[str] = field(default_factory=list)
    webhook_statuses: Counter[str] = field(default_factory=Counter)
    not_fuzzed: list[str] = field(default_factory=list)  # operations schemathesis could not draw for
    bulk_lines: Counter[str] = field(default_factory=Counter)  # NDJSON lines by how they ended
    bulk_problems: list[str] = field(default_factory=list)  # lines neither admitted nor refused properly

    def answered(self, what: str, status: int) -> None:
        self.http_statuses[status] += 1
        if status >= 500:
            self.server_errors.append(f"{what} → {status}")


# --- envelopes from the JSON Schemas --------------------------------------------------------


def _openapi_for_events() -> dict[str, Any]:
    """One POST operation per event type whose body is that type's envelope (for schemathesis)."""
    paths, components = {}, {}
    for type_ in SCHEMA_TYPES:
        schema = json.loads((ROOT / "docs" / "schemas" / f"{type_}.json").read_text())
        text = json.dumps(schema).replace("#/$defs/", "#/components/schemas/")
        schema = json.loads(text)
        for name, definition in schema.pop("$defs", {}).items():
            components[name] = definition
        for key in ("$schema", "$id"):
            schema.pop(key, None)
        envelope = {
            "type": "object",
            "required": ["specversion", "id", "source", "type", "data"],
            "properties": {
                "specversion": {"const": "1.0"},
                "id": {"type": "string", "minLength": 1, "maxLength": 100},
                "source": {"type": "string", "minLength": 1, "maxLength": 100},
                "type": {"const": type_},
                "data": schema,
            },
        }
        paths[f"/events/{type_}"] = {
            "post": {
                "requestBody": {"required": True, "content": {"application/json": {"schema": envelope}}},
                "responses": {"202": {"description": "accepted"}},
            }
        }
    return {
        "openapi": "3.0.3",
        "info": {"title": "events", "version": "1"},
        "paths": paths,
        "components": {"schemas": components},
    }


def _mutations() -> st.SearchStrategy[tuple[str, Any]]:
    """(kind, how to change a drawn envelope): each kind a small hypothesis strategy."""
    deep = st.integers(33, 300).map(lambda n: ("depth", lambda e: {**e, "data": _nest(e.get("data"), n)}))
    big = st.integers(100_001, 400_000).map(lambda n: ("size", lambda e: {**e, "subject": "s" * n}))
    text = st.text(min_size=1, max_size=50).map(
        lambda t: ("unicode", lambda e: {**e, "data": {**_dict(e.get("data")), "memo": t + "\u202e\ufeff"}})
    )
    number = st.sampled_from(["1" * 60, "1E+999999", "-0", "1e-400", "0.0000000000001"]).map(
        lambda n: ("numbers", lambda e: _raw_number(e, n))
    )
    missing = st.sampled_from(["specversion", "id", "type", "source", "data"]).map(
        lambda k: ("missing-field", lambda e: {x: v for x, v in e.items() if x != k})
    )
    extra = st.dictionaries(st.text(min_size=1, max_size=20), st.integers(), min_size=1, max_size=5).map(
        lambda d: ("extra-fields", lambda e: {**e, **d, "data": {**_dict(e.get("data")), **d}})
    )
    breakages: list[dict[str, Any]] = [
        {"specversion": "0.3"},
        {"type": "invoice.approved.v9"},
        {"id": ""},
        {"time": "yesterday"},
        {"data": []},
    ]
    broken = st.sampled_from(breakages).map(lambda b: ("broken-envelope", lambda e: {**e, **b}))
    return st.one_of(deep, big, text, number, missing, extra, broken)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _nest(value: Any, depth: int) -> Any:
    for _ in range(depth):
        value = {"x": value}
    return value


def _raw_number(envelope: dict[str, Any], number: str) -> bytes:
    """An envelope whose data has an amount written as a raw JSON number (json.dumps cannot)."""
    body = json.dumps({**envelope, "data": {**_dict(envelope.get("data")), "amount": 0}}, default=str)
    return body.replace('"amount": 0', f'"amount": {number}', 1).encode()


def drawn_envelopes(seed: int, count: int) -> list[tuple[str, bytes]]:
    """``count`` (kind, body) pairs: schema-drawn envelopes (valid and invalid), most of them mutated."""
    import schemathesis
    from schemathesis.generation import GenerationMode

    schema = schemathesis.openapi.from_dict(_openapi_for_events())
    strategies: list[st.SearchStrategy[tuple[str, Any]]] = []
    for operation in _operations(schema):
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategies.append(operation.as_strategy(mode).map(functools.partial(_mode_and_body, mode.value)))
    drawn: list[tuple[str, bytes]] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.one_of(strategies), st.one_of(st.none(), _mutations()), st.integers(0, 2**32))
    def draw(case: tuple[str, Any], mutation: tuple[str, Any] | None, salt: int) -> None:
        mode, body = case
        if not isinstance(body, dict):
            raw = body if isinstance(body, bytes) else json.dumps(body, default=str).encode()
            drawn.append((f"schema-{mode}-not-an-object", raw))
            return
        body = {**body, "id": f"hyp-{seed}-{salt}-{len(drawn)}"}
        if mutation is None:
            drawn.append((f"schema-{mode}", json.dumps(body, default=str).encode()))
            return
        kind, change = mutation
        changed = change(body)
        drawn.append(
            (kind, changed if isinstance(changed, bytes) else json.dumps(changed, default=str).encode())
        )

    draw()
    return drawn[:count]


def _mode_and_body(mode: str, case: Any) -> tuple[str, Any]:
    return mode, case.body


def _operations(schema: Any) -> list[Any]:
    """The operations of a schemathesis schema (those it could not read are left out)."""
    from schemathesis.core.result import Ok

    return [result.ok() for result in schema.get_all_operations() if isinstance(result, Ok)]


def for_tenant(body: bytes, tenant: Tenant) -> bytes:
    """The envelope addressed to ``tenant`` (when it is an object), so it passes the tenant check."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return body
    if isinstance(document, dict):
        document["tenantid"] = tenant.tenant_id
        return json.dumps(document).encode()
    return body


def event_id_of(body: bytes) -> str | None:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    value = document.get("id") if isinstance(document, dict) else None
    return value if isinstance(value, str) and value else None


# --- sending --------------------------------------------------------------------------------


async def send_events(
    inputs: Inputs,
    channel: aio_pika.abc.AbstractChannel,
    namespace: str,
    http: httpx.AsyncClient,
    mapper: str,
    tenant: Tenant,
    bodies: list[tuple[str, bytes]],
) -> None:
    """Each body to the broker (with a broken header now and then) and to ``POST /v1/events``."""
    for i, (kind, raw) in enumerate(bodies):
        body = for_tenant(raw, tenant)
        inputs.kinds[kind] += 1
        headers = BAD_HEADERS[i % len(BAD_HEADERS)] if i % 3 == 0 else {}
        broker_body = body.replace(b'"id": "hyp-', b'"id": "hypb-', 1)  # distinct ids per route
        await _publish(channel, namespace, aio_pika.Message(broker_body, headers=headers))
        if (sent := event_id_of(broker_body)) is not None and sent.startswith("hypb-"):
            inputs.broker_ids.add(sent)
        status = await _post(http, f"{mapper}/v1/events", body, tenant.auth_header)
        inputs.answered(f"POST /v1/events ({kind})", status)
        if status == 202 and (accepted := event_id_of(body)) is not None:
            inputs.accepted_ids.add(accepted)


async def _publish(channel: aio_pika.abc.AbstractChannel, namespace: str, message: aio_pika.Message) -> None:
    """Publish as ``invoice.approved``, again until the broker takes it: a fault may be restarting or
    alarming the broker meanwhile (the robust channel reopens on its own)."""
    for _ in range(90):
        try:
            async with asyncio.timeout(15):
                exchange = await topology.declare_exchange(channel, namespace)
                await exchange.publish(message, routing_key="invoice.approved")
            return
        except (aio_pika.exceptions.AMQPError, ConnectionError, TimeoutError, RuntimeError):
            await asyncio.sleep(1)
    raise RuntimeError("make chaos: the broker took no bad input for 90 tries")


async def _post(http: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str]) -> int:
    for _ in range(5):
        try:
            answer = await http.post(
                url, content=body, headers={**headers, "content-type": "application/json"}
            )
            return answer.status_code
        except httpx.TransportError:
            await asyncio.sleep(3)  # the service may be restarting after a fault
    return 0


async def send_poison(
    inputs: Inputs,
    channel: aio_pika.abc.AbstractChannel,
    namespace: str,
    http: httpx.AsyncClient,
    mapper: str,
    tenant: Tenant,
) -> None:
    for kind, body in POISON_BODIES.items():
        inputs.kinds[f"poison:{kind}"] += 1
        await _publish(channel, namespace, aio_pika.Message(body))
        inputs.answered(
            f"POST /v1/events (poison {kind})",
            await _post(http, f"{mapper}/v1/events", body, tenant.auth_header),
        )


# --- the NDJSON bulk route -------------------------------------------------------------------

# Lines no envelope strategy draws: broken JSON, bytes that are not UTF-8, raw control characters,
# the poison bodies, a JSON value that is not an object, blank and whitespace-only lines.
BROKEN_LINES: dict[str, bytes] = {
    "not-json": b"{not json",
    "truncated": b'{"specversion":"1.0","id":"x","source":"s","type":"invoice.appr',
    "not-utf8": b'{"specversion":"1.0","id":"\xff","source":"s\xfe"}',
    "raw-nul": b'{"specversion":"1.0","id":"n\x00","source":"s","type":"invoice.approved","data":{}}',
    "array": b"[1, 2, 3]",
    "carriage-return": b'{"specversion":"1.0"}\r',
    "whitespace": b"   \t  ",
    **{f"poison:{k}": v for k, v in POISON_BODIES.items() if k != "over-1MiB"},
}


def bulk_bodies(bodies: list[tuple[str, bytes]], tenant: Tenant, per_body: int) -> list[bytes]:
    """The drawn envelopes (ids ``hypn-…``) ``per_body`` a body, with a broken line in each."""
    broken = list(BROKEN_LINES.values())
    out: list[bytes] = []
    for start in range(0, len(bodies), per_body):
        lines = [
            for_tenant(raw, tenant).replace(b'"id": "hyp-', b'"id": "hypn-', 1)
            for _, raw in bodies[start : start + per_body]
        ]
        lines.insert(len(lines) // 2, broken[(start // per_body) % len(broken)])
        out.append(b"\n".join(line.replace(b"\n", b" ") for line in lines) + b"\n")
    return out


def check_bulk_answer(inputs: Inputs, body: bytes, status: int, answer: Any) -> None:
    """Every non-blank line of ``body`` is admitted (its id then needs an outcome) or refused with its
    line number and, for each problem, a JSON path; anything else is a problem of the route."""
    numbered = {n: raw for n, raw in enumerate(body.split(b"\n"), start=1) if raw.strip()}
    if status != 202 or not isinstance(answer, dict):
        inputs.bulk_problems.append(f"a body of {len(numbered)} lines answered {status}")
        return
    refused: set[int] = set()
    for item in answer.get("rejected") or []:
        line, problems = item.get("line"), item.get("problems") or []
        if line not in numbered or line in refused:
            inputs.bulk_problems.append(f"refusal of line {line!r}: no such line, or refused twice")
            continue
        refused.add(line)
        if not problems or not all(str(p.get("path", "")).startswith("$") for p in problems):
            inputs.bulk_problems.append(f"line {line} refused without a path: {problems!r}"[:300])
    admitted = [n for n in numbered if n not in refused]
    if answer.get("accepted") != len(admitted):
        inputs.bulk_problems.append(
            f"{answer.get('accepted')} accepted, {len(refused)} refused of {len(numbered)} lines"
        )
    for n in admitted:
        if (event_id := event_id_of(numbered[n])) is None:
            inputs.bulk_problems.append(f"line {n} admitted without an id")
        else:
            inputs.accepted_ids.add(event_id)
    inputs.bulk_lines["admitted"] += len(admitted)
    inputs.bulk_lines["refused"] += len(refused)


async def send_bulk(
    inputs: Inputs, http: httpx.AsyncClient, mapper: str, tenant: Tenant, bodies: list[tuple[str, bytes]]
) -> None:
    """The drawn and broken lines as NDJSON to ``POST /v1/events/bulk``, each answer checked line by
    line; then whole bodies the route must refuse as a whole (too many lines, not NDJSON)."""
    url, headers = f"{mapper}/v1/events/bulk", {**tenant.auth_header}
    for body in bulk_bodies(bodies, tenant, per_body=12):
        inputs.kinds["bulk:ndjson-body"] += 1
        status, answer = await _post_json(http, url, body, headers | {"content-type": "application/x-ndjson"})
        inputs.answered("POST /v1/events/bulk", status)
        check_bulk_answer(inputs, body, status, answer)
    whole = {
        "too-many-lines": (b"{}\n" * 10_001, "application/x-ndjson", 413),
        "not-ndjson": (b'{"a": 1}', "text/csv", 415),
        "empty": (b"", "application/x-ndjson", 422),
    }
    for kind, (body, content_type, expected) in whole.items():
        inputs.kinds[f"bulk:{kind}"] += 1
        status, _ = await _post_json(http, url, body, headers | {"content-type": content_type})
        inputs.answered(f"POST /v1/events/bulk ({kind})", status)
        if status != expected:
            inputs.bulk_problems.append(f"bulk {kind}: {status}, expected {expected}")


async def _post_json(
    http: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str]
) -> tuple[int, Any]:
    for _ in range(5):
        try:
            answer = await http.post(url, content=body, headers=headers)
        except httpx.TransportError:
            await asyncio.sleep(3)  # the service may be restarting after a fault
            continue
        try:
            return answer.status_code, answer.json()
        except ValueError:
            return answer.status_code, None
    return 0, None


# --- webhooks -------------------------------------------------------------------------------


async def send_webhooks(
    inputs: Inputs, http: httpx.AsyncClient, webhooks: str, realm_id: str, verifier: str
) -> None:
    """Forged (no, wrong, or another body's signature) and replayed (the same signed body 3 times)."""
    url = f"{webhooks}/v1/webhooks/qbo"
    notification = {
        "eventNotifications": [
            {
                "realmId": realm_id,
                "dataChangeEvent": {
                    "entities": [
                        {
                            "name": "Customer",
                            "id": "1",
                            "operation": "Update",
                            "lastUpdated": "2026-11-30T10:00:00Z",
                        }
                    ]
                },
            }
        ]
    }
    body = json.dumps(notification).encode()
    other = json.dumps({**notification, "x": 1}).encode()
    cases = {
        "forged:no-signature": (body, {}),
        "forged:wrong-signature": (body, {SIGNATURE_HEADER: sign(body, "not-the-verifier-token")}),
        "forged:other-body-signature": (body, {SIGNATURE_HEADER: sign(other, verifier)}),
        "forged:garbage-signature": (body, {SIGNATURE_HEADER: "%%%"}),
        "signed:not-json": (b"{nope", {SIGNATURE_HEADER: sign(b"{nope", verifier)}),
        "signed:deep": (
            b"[" * 5000 + b"]" * 5000,
            {SIGNATURE_HEADER: sign(b"[" * 5000 + b"]" * 5000, verifier)},
        ),
    }
    cases |= {f"replayed:{n}": (body, {SIGNATURE_HEADER: sign(body, verifier)}) for n in range(3)}
    for kind, (content, headers) in cases.items():
        status = await _post(http, url, content, headers)
        inputs.webhook_statuses[f"{kind}:{status}"] += 1
        inputs.answered(f"POST /v1/webhooks/qbo ({kind})", status)


# --- schemathesis on every service's OpenAPI ------------------------------------------------


def fuzz_openapi(
    inputs: Inputs, base_urls: dict[str, str], *, key: str, other: Tenant, per_operation: int
) -> None:
    """Every operation of every service, drawn by schemathesis (valid and invalid requests), sent
    with ``key`` (another tenant's) and ``other``'s connection id in the path: never a 5xx, and
    never a 2xx on another tenant's connection."""
    import schemathesis
    from schemathesis.generation import GenerationMode

    for service, base in base_urls.items():
        schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
        for operation in _operations(schema):
            path_ids = {
                p.name: other.connection_id for p in operation.path_parameters if "connection" in p.name
            }
            _fuzz_operation(inputs, service, base, operation, key, path_ids, per_operation, GenerationMode)


def _fuzz_operation(
    inputs: Inputs,
    service: str,
    base: str,
    operation: Any,
    key: str,
    path_ids: dict[str, str],
    per_operation: int,
    modes: Any,
) -> None:
    label = f"{service} {operation.method.upper()} {operation.path}"
    strategy = st.one_of(
        operation.as_strategy(modes.POSITIVE, path_parameters=path_ids or None),
        operation.as_strategy(modes.NEGATIVE),
    )

    @settings(
        max_examples=per_operation,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def call(case: Any) -> None:
        inputs.kinds["schemathesis"] += 1
        try:
            response = case.call(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=20)
        except Exception as exc:
            inputs.server_errors.append(f"{label}: no answer ({type(exc).__name__})")
            return
        inputs.answered(label, response.status_code)
        same_ids = path_ids and all(case.path_parameters.get(k) == v for k, v in path_ids.items())
        if same_ids and response.status_code < 300 and re.search(r"\{connection", operation.path):
            inputs.cross_tenant_leaks.append(f"{label} → {response.status_code}")

    try:
        call()
    except Exception as exc:
        inputs.not_fuzzed.append(f"{label}: {type(exc).__name__}")


def new_id() -> str:
    return str(uuid.uuid4())
