"""``make chaos``: a first fault and bad-input run of the whole stack, with an oracle.

The stack runs as ``make run`` does (``scripts.stack``, which restarts what dies) on ports away
from the dev stack (``--base-port``), with its own database and broker namespace. A seeded
generator sends ``invoice.approved`` for a few connected sandbox companies (and repeats some of
them, same id), while the run SIGKILLs a random service at random moments and sets the sandbox
to answer 503s, then time out, then throttle. Bad input goes both to the broker and to
``POST /v1/events``. The oracle then checks: every event id has exactly one outcome; each
succeeded invoice exists once in its QBO company with the right line amounts; nothing else was
created; every poison message is in the dead-letter queue with its reason; no route answered
500; queues and outboxes drained. Figures: ``bench/results/chaos.{json,md}``.

    uv run python -m bench.chaos [--seed N --tenants N --invoices N --base-port P]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import httpx
import psutil
from sqlalchemy.engine import make_url

from bench.chaos_report import write_results
from bench.pipeline_bench import invoice_data
from scripts import stack
from scripts.journey import (
    DEMO_SETTINGS,
    Bus,
    Endpoints,
    Tenant,
    apply_settings,
    connect_tenant,
    create_company,
    event,
    until_reference_imported,
)
from shared.contracts.envelope import Envelope
from shared.db import asyncpg_dsn
from shared.messaging import topology

ROOT = Path(__file__).resolve().parents[1]
DATABASE = "qbo_bridge_chaos"
OUTCOMES = ("sync.succeeded", "sync.failed", "sync.rejected")
KILLABLE = ("auth", "mapper", "exporter", "webhooks")
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


@dataclass
class Run:
    """What was sent and what happened, for the oracle and the figures."""

    seed: int
    sent: dict[str, tuple[Tenant, dict[str, Any]]] = field(default_factory=dict)
    duplicates: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    # event id → {(object_type, platform_id, outcome type): {outcome envelope ids}}
    outcomes: dict[str, dict[tuple[str, str, str], set[str]]] = field(default_factory=dict)
    http_statuses: Counter[int] = field(default_factory=Counter)
    last_fault_at: float = 0.0
    last_outcome_at: float = 0.0
    started_at: float = field(default_factory=time.monotonic)


async def fresh_database(server_url: str) -> str:
    url = make_url(server_url)
    conn = await asyncpg.connect(
        asyncpg_dsn(url.set(database="postgres").render_as_string(hide_password=False))
    )
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await conn.close()
    return url.set(database=DATABASE).render_as_string(hide_password=False)


def start(base_port: int, database_url: str, amqp_url: str, namespace: str) -> subprocess.Popen[bytes]:
    """``make run`` on ``base_port`` (it supervises and restarts its children)."""
    env = {
        **os.environ,
        "QBB_DATABASE_URL": database_url,
        "QBB_AMQP_URL": amqp_url,
        "QBB_AMQP_NAMESPACE": namespace,
        "QBB_LOG_LEVEL": "WARNING",
    }
    out = (ROOT / ".run").resolve()
    out.mkdir(exist_ok=True)
    with (out / "chaos-stack.out").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "scripts.stack", "--base-port", str(base_port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


async def until_up(http: httpx.AsyncClient, ends: Endpoints, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        for url in (ends.auth, ends.mapper, ends.exporter, ends.webhooks):
            while True:
                try:
                    if (await http.get(f"{url}/readyz", timeout=2)).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.5)


async def connect(http: httpx.AsyncClient, ends: Endpoints, count: int) -> list[Tenant]:
    tenants = []
    for _ in range(count):
        realm = await create_company(http, ends, country="US")
        tenant = await connect_tenant(http, ends, tenant_id=f"chaos-{uuid.uuid4().hex[:8]}", realm_id=realm)
        await until_reference_imported(http, ends, tenant)
        await apply_settings(http, ends, tenant, DEMO_SETTINGS)
        tenants.append(tenant)
    return tenants


def invoice(rng: random.Random, number: str) -> dict[str, Any]:
    data = invoice_data(number=number, code=f"C{rng.randrange(5)}")
    lines = []
    for _ in range(rng.randint(1, 4)):
        qty, price = rng.randint(1, 9), Decimal(rng.randint(100, 99999)) / 100
        lines.append(
            {
                "description": "Work",
                "quantity": str(qty),
                "unit_price": str(price),
                "amount": str(qty * price),
            }
        )
    return {**data, "lines": [line | {"tax_rate": "California"} for line in lines]}


async def load(run: Run, bus: Bus, tenants: list[Tenant], invoices: int, seconds: float) -> None:
    """Send ``invoices`` per tenant spread over ``seconds``; about one in ten is sent twice."""
    rng = random.Random(run.seed)
    plan = [(t, f"CH{run.seed}-{i}-{n}") for n in range(invoices) for i, t in enumerate(tenants)]
    pause = seconds / max(1, len(plan))
    for tenant, number in plan:
        envelope = event("invoice.approved", invoice(rng, number), tenant=tenant, source="chaos-platform")
        run.sent[envelope.id] = (tenant, envelope.data)
        await publish(bus, envelope)
        if rng.random() < 0.1:
            await publish(bus, envelope)
            run.duplicates += 1
        await asyncio.sleep(pause)


async def publish(bus: Bus, envelope: Envelope) -> None:
    for _ in range(30):  # the client's own link may see the broker busy; it retries, as a platform does
        try:
            await bus.publish(envelope)
            return
        except (aio_pika.exceptions.AMQPError, ConnectionError, TimeoutError):
            await asyncio.sleep(1)
    raise RuntimeError(f"could not publish {envelope.id}")


async def kill_services(
    run: Run, stack_proc: subprocess.Popen[bytes], until: float, rng: random.Random
) -> None:
    """SIGKILL a service every 5-15 s until ``until``: each in turn, in a seeded order."""
    order = rng.sample(KILLABLE, len(KILLABLE))
    turn = 0
    while time.monotonic() < until:
        await asyncio.sleep(rng.uniform(5, 12))
        name, turn = order[turn % len(order)], turn + 1
        for child in psutil.Process(stack_proc.pid).children():
            if f"services.{name}" in " ".join(child.cmdline()):
                child.send_signal(signal.SIGKILL)
                run.faults[f"sigkill:{name}"] += 1
                run.last_fault_at = time.monotonic()


async def sandbox_bursts(run: Run, http: httpx.AsyncClient, ends: Endpoints, start_after: float) -> None:
    """503s, then timeouts, then a 429 storm, 8 s each, on every realm."""
    await asyncio.sleep(start_after)
    for kind, body in (
        ("sandbox:503", {"error_rate": 0.5, "error_status": 503}),
        ("sandbox:timeout", {"timeout_rate": 0.3}),
        ("sandbox:429", {"throttle_next": 40}),
    ):
        await http.put(f"{ends.sandbox}/admin/faults", json=body)
        run.faults[kind] += 1
        await asyncio.sleep(8)
        await http.delete(f"{ends.sandbox}/admin/faults")
        run.last_fault_at = time.monotonic()
        await asyncio.sleep(4)


async def bad_input(run: Run, bus: Bus, http: httpx.AsyncClient, ends: Endpoints, tenant: Tenant) -> None:
    """Each poison body to the broker and to ``POST /v1/events``; statuses recorded (never 500)."""
    exchange = await topology.declare_exchange(bus._channel, ends.namespace)
    for body in POISON_BODIES.values():
        await exchange.publish(aio_pika.Message(body), routing_key="invoice.approved")
        for _ in range(3):
            try:
                answer = await http.post(f"{ends.mapper}/v1/events", content=body, headers=tenant.auth_header)
                run.http_statuses[answer.status_code] += 1
                break
            except httpx.TransportError:
                await asyncio.sleep(5)  # the mapper may be down (we kill it): try again
        else:
            run.http_statuses[0] += 1  # no answer: the mapper was down all three times


async def collect_outcomes(run: Run, queue: Any) -> None:
    async with queue.iterator() as messages:
        async for message in messages:
            await message.ack()
            envelope = Envelope.model_validate_json(message.body)
            source = str(envelope.data.get("source_event_id", ""))
            if source in run.sent:
                key = (
                    str(envelope.data.get("object_type")),
                    str(envelope.data.get("platform_id")),
                    envelope.type,
                )
                run.outcomes.setdefault(source, {}).setdefault(key, set()).add(envelope.id)
                run.last_outcome_at = time.monotonic()


def _invoice_outcomes(run: Run, event_id: str) -> list[str]:
    """The outcome types the invoice of ``event_id`` got (its customer's outcomes aside)."""
    return [t for (kind, _, t) in run.outcomes.get(event_id, {}) if kind == "invoice"]


async def until_all_outcomes(run: Run, timeout: float) -> None:
    try:
        async with asyncio.timeout(timeout):
            while sum(1 for e in run.sent if _invoice_outcomes(run, e)) < len(run.sent):  # noqa: ASYNC110 - polled state, bounded
                await asyncio.sleep(0.5)
    except TimeoutError:
        pass


async def oracle(
    run: Run, http: httpx.AsyncClient, ends: Endpoints, amqp_url: str, database_url: str
) -> dict[str, Any]:
    """Compare the sandbox, the queues and the outboxes with what was sent."""
    kinds = Counter(t for e in run.sent for t in _invoice_outcomes(run, e))
    lost = [e for e in run.sent if not _invoice_outcomes(run, e)]
    # Doubled: one object given two outcomes, or one outcome announced under two event ids.
    doubled_outcomes = [
        e
        for e, found in run.outcomes.items()
        if len(_invoice_outcomes(run, e)) > 1 or any(len(ids) > 1 for ids in found.values())
    ]
    by_realm: dict[str, list[dict[str, Any]]] = {}
    for tenant, _ in run.sent.values():
        if tenant.realm_id not in by_realm:
            answer = await http.get(f"{ends.sandbox}/admin/companies/{tenant.realm_id}/entities/Invoice")
            by_realm[tenant.realm_id] = answer.json()
    wrong, doubled_objects, missing_objects, unexpected = [], [], [], 0
    numbers = {data["number"] for _, data in run.sent.values()}
    for event_id, (tenant, data) in run.sent.items():
        found = [i for i in by_realm[tenant.realm_id] if i.get("DocNumber") == data["number"]]
        succeeded = "sync.succeeded" in _invoice_outcomes(run, event_id)
        if succeeded and not found:
            missing_objects.append(event_id)
        if len(found) > 1:
            doubled_objects.append(event_id)
        if found and _subtotal(found[0]) != sum(Decimal(line["amount"]) for line in data["lines"]):
            wrong.append(event_id)
    for invoices in by_realm.values():
        unexpected += sum(
            1
            for i in invoices
            if str(i.get("DocNumber", "")).startswith("CH") and i["DocNumber"] not in numbers
        )
    return {
        "events": len(run.sent),
        "duplicates_sent": run.duplicates,
        "outcomes": dict(kinds),
        "lost": len(lost),
        "doubled_outcomes": len(doubled_outcomes),
        "missing_in_qbo": len(missing_objects),
        "doubled_in_qbo": len(doubled_objects),
        "wrong_amounts": len(wrong),
        "unexpected_in_qbo": unexpected,
        "dead_letters": await dead_letters(amqp_url, ends.namespace),
        "left_in_queues": await left_in_queues(amqp_url, ends.namespace),
        "left_in_outboxes": await left_in_outboxes(database_url),
        "examples": {"lost": lost[:5], "doubled_in_qbo": doubled_objects[:5], "wrong_amounts": wrong[:5]},
    }


def _subtotal(invoice_: dict[str, Any]) -> Decimal:
    lines = invoice_.get("Line", [])
    return sum(
        (Decimal(str(ln["Amount"])) for ln in lines if ln.get("DetailType") == "SalesItemLineDetail"),
        Decimal(0),
    )


def _queues(namespace: str) -> list[str]:
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
    """Every dead-lettered message by queue and kind; how many lack a reason."""
    kinds: Counter[str] = Counter()
    without_reason = 0
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel()
        for queue in _queues(namespace):
            dlq = await channel.declare_queue(topology.dead_letter_queue_name(queue), passive=True)
            # Read, never acked: they return to the queue when the connection closes.
            while (message := await dlq.get(fail=False, no_ack=False)) is not None:
                headers = message.headers or {}
                kind = headers.get("x-qbb-kind", b"?")
                kind_text = kind.decode() if isinstance(kind, bytes) else str(kind)
                kinds[f"{queue.removeprefix(namespace)}:{kind_text}"] += 1
                without_reason += 0 if headers.get("x-qbb-reason") else 1
    finally:
        await connection.close()
    return {"by_queue_and_kind": dict(kinds), "without_reason": without_reason}


async def left_in_queues(amqp_url: str, namespace: str) -> int:
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel()
        total = 0
        for queue in _queues(namespace):
            declared = await channel.declare_queue(queue, passive=True)
            total += declared.declaration_result.message_count or 0
        return total
    finally:
        await connection.close()


async def delete_namespace(amqp_url: str, namespace: str) -> None:
    """Every queue and exchange of the run's namespace: the local broker is shared, and hundreds of
    leftover quorum queues once made it crawl."""
    from services.auth.handlers import router as auth
    from services.exporter.handlers import router as exporter
    from services.mapper.handlers import router as mapper
    from services.webhooks.handlers import router as webhooks

    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel()
        for sub in (s for r in (auth, mapper, exporter, webhooks) for s in r.subscriptions):
            queue = topology.queue_name(sub.queue, namespace)
            names = [queue, topology.dead_letter_queue_name(queue)]
            names += [topology.retry_queue_name(queue, d) for d in sub.retry_delays]
            for name in names:
                await channel.queue_delete(name)
        for name in (topology.unrouted_name(namespace),):
            await channel.queue_delete(name)
        for exchange in (
            "qbo-bridge.events",
            "qbo-bridge.unrouted",
            "qbo-bridge.ingress",
            "qbo-bridge.egress",
        ):
            await channel.exchange_delete(f"{namespace}{exchange}")
    finally:
        await connection.close()


async def left_in_outboxes(database_url: str) -> dict[str, int]:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        found = {}
        for schema in KILLABLE:
            found[schema] = int(await conn.fetchval(f"SELECT count(*) FROM {schema}.outbox_messages"))
        return found
    finally:
        await conn.close()


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    infra = stack.find_infra()
    database_url = await fresh_database(infra.database.url)
    ports = stack.Ports(args.base_port)
    namespace = f"chaos{uuid.uuid4().hex[:6]}."
    ends = Endpoints(
        sandbox=f"http://127.0.0.1:{ports.sandbox}",
        namespace=namespace,
        **{n: f"http://127.0.0.1:{p}" for n, p in ports.services.items()},
    )
    stack_proc = start(args.base_port, database_url, infra.broker.url, namespace)
    run = Run(seed=args.seed)
    rng = random.Random(args.seed + 1)
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            await until_up(http, ends, timeout=300)
            tenants = await connect(http, ends, args.tenants)
            bus = await Bus.open(infra.broker.url, namespace)
            outcomes = await bus.listen(*OUTCOMES)
            collector = asyncio.create_task(collect_outcomes(run, outcomes))
            load_seconds = 40.0
            run.started_at = time.monotonic()
            faults = [
                asyncio.create_task(
                    kill_services(run, stack_proc, time.monotonic() + load_seconds + 10, rng)
                ),
                asyncio.create_task(sandbox_bursts(run, http, ends, start_after=5)),
            ]
            await load(run, bus, tenants, args.invoices, load_seconds)
            await bad_input(run, bus, http, ends, tenants[0])
            await asyncio.gather(*faults)
            await until_up(http, ends, timeout=120)
            await until_all_outcomes(run, timeout=args.drain_timeout)
            await asyncio.sleep(5)  # stragglers: a doubled outcome would arrive now
            collector.cancel()
            result = await oracle(run, http, ends, infra.broker.url, database_url)
            await bus.close()
    finally:
        stack_proc.send_signal(signal.SIGTERM)
        try:
            stack_proc.wait(60)
        except subprocess.TimeoutExpired:
            stack_proc.kill()
        await delete_namespace(infra.broker.url, namespace)
    drain = max(0.0, run.last_outcome_at - run.last_fault_at) if run.last_outcome_at else None
    return {
        "seed": args.seed,
        "tenants": args.tenants,
        "invoices_per_tenant": args.invoices,
        "faults": dict(run.faults),
        "bad_input": {"kinds": sorted(POISON_BODIES), "http_statuses": dict(run.http_statuses)},
        "seconds_to_drain_after_last_fault": None if drain is None else round(drain, 1),
        "run_seconds": round(time.monotonic() - run.started_at, 1),
        **result,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="make chaos")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--tenants", type=int, default=3)
    parser.add_argument("--invoices", type=int, default=30, help="per tenant")
    parser.add_argument("--base-port", type=int, default=18090)
    parser.add_argument("--drain-timeout", type=float, default=240.0)
    args = parser.parse_args()
    figures = asyncio.run(asyncio.wait_for(main_async(args), timeout=600))
    write_results(figures, ROOT / "bench" / "results")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
