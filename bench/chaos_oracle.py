"""The oracle of ``make chaos``: the sandbox's entities, the outcomes, the queues and the outboxes
against what the stories mean (bench/chaos_load.py)."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import aio_pika
import asyncpg
import httpx

from bench.chaos_load import Story
from shared.contracts.envelope import Envelope
from shared.db import asyncpg_dsn
from shared.messaging import topology

OUTCOMES = ("sync.succeeded", "sync.failed", "sync.rejected")
SCHEMAS = ("auth", "mapper", "exporter", "webhooks")


@dataclass(frozen=True)
class Outcome:
    object_type: str
    platform_id: str
    type: str
    operation: str
    envelope_id: str


@dataclass
class Outcomes:
    """Every outcome seen, by source event id (a republished outcome keeps its envelope id)."""

    by_event: dict[str, set[Outcome]] = field(default_factory=dict)
    last_at: float = 0.0

    def add(self, body: bytes) -> None:
        envelope = Envelope.model_validate_json(body)
        data = envelope.data
        source = str(data.get("source_event_id", ""))
        found = Outcome(
            str(data.get("object_type")),
            str(data.get("platform_id")),
            envelope.type,
            str(data.get("operation", "")),
            envelope.id,
        )
        self.by_event.setdefault(source, set()).add(found)
        self.last_at = time.monotonic()

    def of(self, event: Envelope, story: Story) -> set[Outcome]:
        """The outcomes of ``event`` about its own object (its customer's aside)."""
        kind = story.object_of(event)
        return {o for o in self.by_event.get(event.id, set()) if o.object_type == kind}


def doubled(outcomes: set[Outcome]) -> bool:
    """Two different outcome events saying the same thing, or both success and failure."""
    said = Counter((o.type, o.operation) for o in outcomes)
    types = {o.type for o in outcomes}
    return any(n > 1 for n in said.values()) or ("sync.succeeded" in types and len(types) > 1)


async def entities(http: httpx.AsyncClient, sandbox: str, realm: str, entity: str) -> list[dict[str, Any]]:
    answer = await http.get(f"{sandbox}/admin/companies/{realm}/entities/{entity}")
    answer.raise_for_status()
    found: list[dict[str, Any]] = answer.json()
    return found


def _subtotal(invoice: dict[str, Any]) -> Decimal:
    return sum(
        (
            Decimal(str(line["Amount"]))
            for line in invoice.get("Line", [])
            if line.get("DetailType") == "SalesItemLineDetail"
        ),
        Decimal(0),
    )


def _linked_to(payment: dict[str, Any], invoice_id: str) -> bool:
    return any(
        t.get("TxnType") == "Invoice" and str(t.get("TxnId")) == invoice_id
        for line in payment.get("Line", [])
        for t in line.get("LinkedTxn", [])
    )


async def check_stories(
    stories: list[Story], outcomes: Outcomes, http: httpx.AsyncClient, sandbox: str
) -> dict[str, Any]:
    """Each event's outcome, and each invoice and payment in QBO, against its story."""
    realms = {s.tenant.realm_id for s in stories}
    invoices = {r: await entities(http, sandbox, r, "Invoice") for r in realms}
    payments = {r: await entities(http, sandbox, r, "Payment") for r in realms}
    problems: dict[str, list[str]] = {
        k: [] for k in ("lost", "doubled_outcomes", "missing_in_qbo", "doubled_in_qbo", "wrong_amounts")
    }
    problems |= {"wrong_void_state": [], "wrong_payments": [], "failed": [], "void_before_create_live": []}
    kinds: Counter[str] = Counter()
    for s in stories:
        for e in s.events:
            got = outcomes.of(e, s)
            kinds.update(f"{e.type}→{o.type}:{o.operation}" for o in got)
            if not got:
                problems["lost"].append(f"{e.type} {e.id}")
            elif doubled(got):
                problems["doubled_outcomes"].append(f"{e.type} {e.id}")
            if any(o.type != "sync.succeeded" for o in got):
                problems["failed"].append(f"{e.type} {s.number}")
        _check_qbo(s, invoices[s.tenant.realm_id], payments[s.tenant.realm_id], problems)
    numbers = {s.number for s in stories}
    unexpected = sum(
        1
        for found in invoices.values()
        for i in found
        if str(i.get("DocNumber", "")).startswith("CH") and i["DocNumber"] not in numbers
    )
    return {
        "outcomes": dict(sorted(kinds.items())),
        **{k: len(v) for k, v in problems.items()},
        "unexpected_in_qbo": unexpected,
        "examples": {k: v[:5] for k, v in problems.items() if v},
    }


def _is_void(invoice: dict[str, Any]) -> bool:
    """QBO keeps a voided invoice, its amounts zeroed and its memo saying so."""
    return str(invoice.get("PrivateNote", "")).startswith("Voided")


def _check_qbo(
    s: Story, invoices: list[dict[str, Any]], payments: list[dict[str, Any]], problems: dict[str, list[str]]
) -> None:
    found = [i for i in invoices if i.get("DocNumber") == s.number]
    if s.swapped == "voided" and (live := [i["Id"] for i in found if not _is_void(i)]):
        # The void came first and waited for its create: whatever the create wrote must end voided.
        problems["void_before_create_live"].append(f"{s.number}: live invoice(s) {live}")
    if not found:
        problems["missing_in_qbo"].append(s.number)
        return
    if len(found) > 1:
        problems["doubled_in_qbo"].append(s.number)
    invoice = found[0]
    is_void = _is_void(invoice)
    if is_void != s.voided:
        problems["wrong_void_state"].append(f"{s.number}: voided={is_void}, expected {s.voided}")
    if not s.voided and _subtotal(invoice) != s.subtotal:
        problems["wrong_amounts"].append(f"{s.number}: {_subtotal(invoice)} != {s.subtotal}")
    applied = [p for p in payments if _linked_to(p, str(invoice["Id"]))]
    if s.paid is None:
        if applied:
            problems["wrong_payments"].append(f"{s.number}: {len(applied)} payments, expected none")
        return
    if len(applied) != 1 or Decimal(str(applied[0].get("TotalAmt"))) != s.paid:
        problems["wrong_payments"].append(
            f"{s.number}: {[p.get('TotalAmt') for p in applied]}, expected one of {s.paid}"
        )
        return
    balance, total = Decimal(str(invoice.get("Balance"))), Decimal(str(invoice.get("TotalAmt")))
    if balance != total - s.paid:
        problems["wrong_payments"].append(f"{s.number}: balance {balance} != {total} - {s.paid}")


async def request_log(http: httpx.AsyncClient, sandbox: str, realms: set[str]) -> dict[str, int]:
    """The sandbox's request log: write calls by answer (a timeout after a write shows as 504)."""
    counts: Counter[str] = Counter()
    for realm in realms:
        answer = await http.get(f"{sandbox}/admin/requests", params={"realm_id": realm})
        for entry in answer.json():
            if entry.get("method") == "POST" and entry.get("operation") not in (None, "query"):
                counts[
                    f"{entry.get('entity') or 'batch'}:{entry.get('operation')}:{entry.get('status')}"
                ] += 1
    return dict(sorted(counts.items()))


def consumer_queues(namespace: str) -> list[str]:
    from services.auth.handlers import router as auth
    from services.exporter.handlers import router as exporter
    from services.mapper.handlers import router as mapper
    from services.webhooks.handlers import router as webhooks

    return [
        topology.queue_name(s.queue, namespace)
        for r in (auth, mapper, exporter, webhooks)
        for s in r.subscriptions
    ]


async def dead_letters(amqp_url: str, namespace: str) -> dict[str, Any]:
    """Every dead-lettered message by queue and kind; how many lack a reason; the event ids seen."""
    kinds: Counter[str] = Counter()
    without_reason, ids = 0, set()
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel()
        for queue in consumer_queues(namespace):
            dlq = await channel.declare_queue(topology.dead_letter_queue_name(queue), passive=True)
            # Read, never acked: they return to the queue when the connection closes.
            while (message := await dlq.get(fail=False, no_ack=False)) is not None:
                headers = message.headers or {}
                kind = headers.get("x-qbb-kind", b"?")
                kind_text = kind.decode() if isinstance(kind, bytes) else str(kind)
                kinds[f"{queue.removeprefix(namespace)}:{kind_text}"] += 1
                without_reason += 0 if headers.get("x-qbb-reason") else 1
                ids.add(_id_of(message.body) or str(message.message_id))
    finally:
        await connection.close()
    return {"by_queue_and_kind": dict(sorted(kinds.items())), "without_reason": without_reason, "ids": ids}


def _id_of(body: bytes) -> str | None:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    value = document.get("id") if isinstance(document, dict) else None
    return value if isinstance(value, str) else None


async def left_in_queues(amqp_url: str, namespace: str) -> int:
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel()
        total = 0
        for queue in consumer_queues(namespace):
            declared = await channel.declare_queue(queue, passive=True)
            total += declared.declaration_result.message_count or 0
        return total
    finally:
        await connection.close()


async def left_in_outboxes(database_url: str) -> dict[str, int]:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return {
            schema: int(
                await conn.fetchval(
                    f"SELECT count(*) FROM {schema}.outbox_messages WHERE quarantined_at IS NULL"
                )
            )
            for schema in SCHEMAS
        }
    finally:
        await conn.close()


async def waiting_jobs(database_url: str) -> dict[str, int]:
    """Export jobs not finished, by status (none may be left once everything has drained)."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await conn.fetch(
            "SELECT status, count(*) FROM exporter.jobs "
            "WHERE status NOT IN ('succeeded', 'failed', 'skipped') GROUP BY status"
        )
        return {str(r[0]): int(r[1]) for r in rows}
    finally:
        await conn.close()
