"""``make bench``: the whole pipeline measured — platform events in, invoices in the sandbox out.

Per scenario: sandbox companies connected through the real OAuth consent page, their lists
imported, sandbox latency and limits set, then ``invoice.approved`` published as fast as the
broker confirms them, until each has an outcome. Latency is measured from the publish (wall
clock) to the sandbox's request-log time of the create that carried the invoice, and to
``sync.succeeded``. The same number of invoices then goes through a python-quickbooks loop
against the same sandbox. Results: ``bench/results/<scenario>.json`` and ``latest.md``.

    uv run python -m bench.pipeline_bench [--quick] [--realms N --invoices-per-realm N
        --sandbox-latency-ms MS --limits real|off --time-scale X]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import httpx
from aio_pika.abc import AbstractIncomingMessage

from bench import pipeline_report as report
from bench.pipeline_baseline import run_baseline
from bench.pipeline_figures import Sent, bridge_figures
from bench.pipeline_stack import RunningStack, Sampler, start_stack
from scripts.journey import (
    DEMO_SETTINGS,
    Endpoints,
    PlatformBus,
    Tenant,
    apply_settings,
    connect_tenant,
    create_company,
    event,
    register_platform,
    until_reference_imported,
)
from shared.contracts.envelope import Envelope

OUTCOMES = ("sync.succeeded", "sync.failed", "sync.rejected")
CONNECT_PARALLEL = 6
PUBLISH_PARALLEL = 64


@dataclass(frozen=True)
class Scenario:
    name: str
    realms: int
    invoices_per_realm: int
    sandbox_latency_ms: float = 0.0
    limits: str = "real"
    time_scale: float = 1.0
    customer: str = "shared"  # shared: one customer per realm; new: a new customer per invoice
    sequential: bool = False  # one invoice at a time, each after the previous one's outcome
    timeout_seconds: float = 300.0
    baseline_seconds: float = 60.0


QUICK = [
    Scenario("quick-one-invoice", 1, 10, sequential=True, timeout_seconds=60, baseline_seconds=5),
    Scenario("quick-realms-5x20", 5, 20, timeout_seconds=90, baseline_seconds=10),
    Scenario(
        "quick-latency-200ms",
        1,
        300,
        sandbox_latency_ms=200,
        time_scale=10,
        timeout_seconds=90,
        baseline_seconds=5,
    ),
]
FULL = [
    Scenario("one-invoice", 1, 30, sequential=True, timeout_seconds=120, baseline_seconds=15),
    Scenario("realms-100x100", 100, 100, timeout_seconds=1200, baseline_seconds=60),
    # Unscaled (x1) so the realm's limits, not the pipeline's CPU, are what a realm can reach.
    Scenario("latency-200ms", 1, 2400, sandbox_latency_ms=200, timeout_seconds=600, baseline_seconds=30),
]


def invoice_data(*, number: str, code: str, country: str = "US") -> dict[str, Any]:
    rate = "California" if country == "US" else "20.0% S"
    customer = {"customer_id": f"cus_{code}", "code": code, "name": f"{code} Ltd", "email": "ap@example.com"}
    lines = [
        {"description": "Consulting", "quantity": "3", "unit_price": "120.00", "amount": "360.00"},
        {"description": "Travel", "quantity": "1", "unit_price": "45.50", "amount": "45.50"},
    ]
    return {
        "invoice_id": f"inv_{number}",
        "number": number,
        "issue_date": "2026-11-20",
        "due_date": "2026-12-20",
        "customer": customer,
        "lines": [line | {"tax_rate": rate} for line in lines],
    }


async def connect_realms(http: httpx.AsyncClient, ends: Endpoints, count: int) -> list[Tenant]:
    """``count`` US companies, connected, lists imported, default accounts set."""
    gate = asyncio.Semaphore(CONNECT_PARALLEL)

    async def one() -> Tenant:
        async with gate:
            realm = await create_company(http, ends, country="US")
            tenant = await connect_tenant(
                http, ends, tenant_id=f"bench-{uuid.uuid4().hex[:10]}", realm_id=realm
            )
            await until_reference_imported(http, ends, tenant)
            await apply_settings(http, ends, tenant, DEMO_SETTINGS)
            return tenant

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def set_sandbox(http: httpx.AsyncClient, ends: Endpoints, sc: Scenario) -> None:
    limits = {"enabled": sc.limits == "real", "time_scale": sc.time_scale}
    (await http.put(f"{ends.sandbox}/admin/limits", json=limits)).raise_for_status()
    if sc.sandbox_latency_ms:
        faults = {"latency_ms": sc.sandbox_latency_ms}
        (await http.put(f"{ends.sandbox}/admin/faults", json=faults)).raise_for_status()
    else:
        (await http.delete(f"{ends.sandbox}/admin/faults")).raise_for_status()


def plan(sc: Scenario, tenants: Sequence[Tenant], run: str) -> list[tuple[Tenant, str, Envelope]]:
    """The events, realms interleaved as a platform's traffic would be: (tenant, number, event)."""
    out = []
    for j in range(sc.invoices_per_realm):
        for r, tenant in enumerate(tenants):
            number = f"{run}-{r:03d}-{j:04d}"
            code = f"C{run}-{r:03d}" + (f"-{j:04d}" if sc.customer == "new" else "")
            data = invoice_data(number=number, code=code)
            out.append((tenant, number, event("invoice.approved", data, tenant=tenant, source="bench")))
    return out


class Outcomes:
    """Every invoice outcome on the bus, with the wall-clock time it arrived."""

    def __init__(self) -> None:
        self.by_event: dict[str, tuple[str, float]] = {}
        self.changed = asyncio.Event()

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        arrived = time.time()
        async with message.process():
            envelope = Envelope.model_validate_json(message.body)
            if envelope.data.get("object_type") == "invoice":
                self.by_event.setdefault(str(envelope.data.get("source_event_id")), (envelope.type, arrived))
                self.changed.set()

    async def until(self, count: int, *, deadline: float) -> bool:
        while len(self.by_event) < count:
            self.changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self.changed.wait(), timeout=min(remaining, 1.0))
            except TimeoutError:
                continue
        return True


async def publish_all(
    publish: Callable[[Envelope], Awaitable[float]],
    planned: Sequence[tuple[Tenant, str, Envelope]],
    outcomes: Outcomes,
    sc: Scenario,
    deadline: float,
) -> dict[str, float]:
    """Publish every event (confirmed by the broker); returns event id → publish time."""
    sent: dict[str, float] = {}
    gate = asyncio.Semaphore(1 if sc.sequential else PUBLISH_PARALLEL)

    async def one(envelope: Envelope) -> None:
        async with gate:
            sent[envelope.id] = time.time()
            await publish(envelope)
            if sc.sequential:
                await outcomes.until(len(sent), deadline=deadline)

    if sc.sequential:
        for _, _, envelope in planned:
            await one(envelope)
    else:
        await asyncio.gather(*(one(e) for _, _, e in planned))
    return sent


async def realm_records(
    http: httpx.AsyncClient, ends: Endpoints, tenant: Tenant, since: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The sandbox's request log (since the scenario began) and Invoice objects of one realm."""
    log = await http.get(
        f"{ends.sandbox}/admin/requests", params={"realm_id": tenant.realm_id, "since": since}
    )
    invoices = await http.get(f"{ends.sandbox}/admin/companies/{tenant.realm_id}/entities/Invoice")
    log.raise_for_status()
    invoices.raise_for_status()
    return log.json(), invoices.json()


async def measure_bridge(
    running: RunningStack, http: httpx.AsyncClient, sc: Scenario, tenants: list[Tenant]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Publish, wait for outcomes, then read the sandbox; (bridge figures, resource usage)."""
    ends, run = running.ends, uuid.uuid4().hex[:6].upper()
    planned = plan(sc, tenants, run)
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 1))
    outcomes, sampler = Outcomes(), Sampler(running.processes)
    # The benchmark is a platform like any other: its own broker user, ingress in, egress out.
    platform = await register_platform(
        http, ends, platform_id=f"bench-{run.lower()}", tenants=[t.tenant_id for t in tenants]
    )
    bus = await PlatformBus.open(platform["amqp"])
    sampling = asyncio.create_task(sampler.run())
    try:
        queue = await bus.listen(*OUTCOMES)
        await queue.consume(outcomes.on_message)
        deadline = time.monotonic() + sc.timeout_seconds
        sent = await publish_all(bus.publish, planned, outcomes, sc, deadline)
        published_at = time.time()
        completed = await outcomes.until(len(planned), deadline=deadline)
    finally:
        sampler.sample()
        busy = sampler.machine_busy()
        sampling.cancel()
        await bus.close()
    records = await asyncio.gather(*(realm_records(http, ends, t, since) for t in tenants))
    figures = bridge_figures(
        [Sent(t.realm_id, n, e.id, sent[e.id]) for t, n, e in planned if e.id in sent],
        outcomes.by_event,
        {t.realm_id: r for t, r in zip(tenants, records, strict=True)},
        time_scale=sc.time_scale,
        skip_minutes=1.0 if sc.sandbox_latency_ms else 0.0,
    )
    figures |= {
        "machine_cpu_busy_percent": busy,
        "completed_before_timeout": completed,
        "publish_seconds": round(published_at - min(sent.values()), 2),
    }
    return figures, sampler.report()


async def run_scenario(running: RunningStack, sc: Scenario) -> dict[str, Any]:
    print(f"\n== {sc.name}: {sc.realms} realm(s) x {sc.invoices_per_realm} invoices", flush=True)
    load_before = os.getloadavg()
    async with httpx.AsyncClient(timeout=120) as http:
        # Connecting is set-up: done with no latency and no limits, as in a long-running product.
        await set_sandbox(http, running.ends, replace(sc, sandbox_latency_ms=0, limits="off"))
        tenants = await connect_realms(http, running.ends, sc.realms)
        print(f"   connected {len(tenants)} realm(s); publishing", flush=True)
        await set_sandbox(http, running.ends, sc)
        bridge, resources = await measure_bridge(running, http, sc, tenants)
        print(f"   bridge: {bridge['invoices_per_second']} invoices/s; baseline running", flush=True)
    baseline = await asyncio.to_thread(
        run_baseline,
        running.ends.sandbox,
        realms=sc.realms,
        per_realm=sc.invoices_per_realm,
        time_scale=sc.time_scale,
        budget_seconds=sc.baseline_seconds,
    )
    base = {**asdict(baseline), "invoices_per_second": round(baseline.per_second, 1)}
    ratio = (
        bridge["invoices_per_second"] / baseline.per_second
        if bridge["invoices_per_second"] and baseline.per_second
        else None
    )
    return {
        "scenario": asdict(sc),
        "bridge": bridge,
        "baseline": base,
        "ratio_bridge_to_baseline": None if ratio is None else round(ratio, 2),
        "resources": resources,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "cpu_count": os.cpu_count(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def scenarios_from(args: argparse.Namespace) -> list[Scenario]:
    custom = {
        "realms": args.realms,
        "invoices_per_realm": args.invoices_per_realm,
        "sandbox_latency_ms": args.sandbox_latency_ms,
        "limits": args.limits,
        "time_scale": args.time_scale,
    }
    given = {k: v for k, v in custom.items() if v is not None}
    if given:
        base = Scenario("custom", 1, 10, customer=args.customer, timeout_seconds=args.timeout)
        sc = replace(base, **given)
        shape = f"{sc.realms}x{sc.invoices_per_realm}-{sc.sandbox_latency_ms:g}ms"
        name = f"custom-{shape}-{sc.limits}-x{sc.time_scale:g}"
        return [replace(sc, name=name, baseline_seconds=args.baseline_seconds or 60)]
    chosen = QUICK if args.quick else FULL
    if args.only:
        chosen = [s for s in chosen if s.name in args.only]
    if args.baseline_seconds:
        chosen = [replace(s, baseline_seconds=args.baseline_seconds) for s in chosen]
    return [replace(s, customer=args.customer) for s in chosen]


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="make bench", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--quick", action="store_true", help="the reduced set (about a minute)")
    parser.add_argument("--only", nargs="*", help="run only these preset scenarios (by name)")
    parser.add_argument("--realms", type=int)
    parser.add_argument("--invoices-per-realm", type=int)
    parser.add_argument("--sandbox-latency-ms", type=float)
    parser.add_argument("--limits", choices=("real", "off"))
    parser.add_argument("--time-scale", type=float)
    parser.add_argument("--customer", choices=("shared", "new"), default="shared")
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="custom scenario: outcome wait bound (s)"
    )
    parser.add_argument("--baseline-seconds", type=float, help="time budget of the python-quickbooks loop")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    command = "uv run python -m bench.pipeline_bench " + shlex.join(sys.argv[1:] if argv is None else argv)
    results: list[dict[str, Any]] = []
    groups: dict[tuple[float, str], list[Scenario]] = {}
    for sc in scenarios_from(args):
        groups.setdefault((sc.time_scale, sc.limits), []).append(sc)
    for (time_scale, limits), scenarios in groups.items():
        # The services' limiter must scale time as the sandbox does, so each group has its own stack.
        running = start_stack(time_scale=time_scale, limits=limits)
        try:
            for sc in scenarios:
                result = asyncio.run(run_scenario(running, sc))
                print(f"   wrote {report.write_json(result)}", flush=True)
                results.append(result)
        finally:
            running.stop()
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    machine = f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} at the end, {when}"
    text = report.table(results, command=command.strip(), machine=machine)
    print("\n" + text, flush=True)
    custom = any(sc.name.startswith("custom") for sc in scenarios_from(args))
    mode = "custom" if custom else "partial" if args.only else "quick" if args.quick else "full"
    paths = report.write_markdown(text, mode=mode)
    print("written to " + ", ".join(str(p) for p in paths), flush=True)


if __name__ == "__main__":
    main()
