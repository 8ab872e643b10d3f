"""``make bench``: the whole pipeline measured — platform events in, invoices in the sandbox out.

Per scenario: sandbox companies connected through the real OAuth consent page, their lists
imported, sandbox latency and limits set, then ``invoice.approved`` published as fast as the
broker confirms them, until each has an outcome. Latency is measured from the publish (wall
clock) to the sandbox's request-log time of the create that carried the invoice, and to
``sync.succeeded``; QBO calls and batch fill come from the same log. Over the same window, each
process's CPU (and the Postgres backends' of the benchmark's database) and the database's
``pg_stat_*`` counters are read, and divided by the invoices. The same invoices then go through
python-quickbooks loops against the same sandbox: one loop, and one loop per realm at once.

Scenarios (``--quick``: small versions of each): one invoice at a time; 100 realms with Intuit's
limits; one realm with a backlog and 200 ms latency; 100 realms with limits off (the CPU
ceiling); the same small load on an empty ``exporter.jobs``, beside a 50,000-job backlog of
another realm, and on 1,000,000 finished jobs (seeded with SQL). Issue 19's targets are marked
met or not. Results: ``bench/results/{quick,full}.{md,json}``.

    uv run python -m bench.pipeline_bench [--quick] [--only NAME ...] [--realms N
        --invoices-per-realm N --sandbox-latency-ms MS --limits real|off --time-scale X]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import signal
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import httpx
from aio_pika.abc import AbstractIncomingMessage

from bench import pipeline_db as db
from bench import pipeline_report as report
from bench import pipeline_stats as stats
from bench.pipeline_baseline import run_baseline
from bench.pipeline_figures import Sent, bridge_figures, cost_figures
from bench.pipeline_stack import BENCH_DATABASE, RunningStack, Sampler, start_stack
from bench.pipeline_targets import verdicts
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
BACKLOG_PREFIX = "BL"


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
    # Sequential only: a publish starts no sooner than this after the one before. One invoice at a
    # time back to back reaches ~10 a second, Intuit's per-second limit for a realm, and then the
    # limiter's waits, not the pipeline, are what is measured.
    interval_seconds: float = 0.0
    timeout_seconds: float = 300.0
    baseline_seconds: float = 60.0  # 0: no python-quickbooks loop for this scenario
    role: str = "custom"  # which target it answers (bench.pipeline_targets)
    finished_jobs: int = 0  # finished exporter jobs seeded (SQL) before it is measured
    backlog_jobs: int = 0  # queued jobs of one more realm seeded (SQL) before it is measured


def _history(
    prefix: str, realms: int, per_realm: int, *, finished: int, backlog: int, timeout: float
) -> list[Scenario]:
    """The same small load on an empty jobs table, beside another realm's queued backlog, and on
    a table of finished jobs (the backlog is deleted first, so each is measured alone)."""
    return [
        Scenario(
            f"{prefix}history-empty",
            realms,
            per_realm,
            timeout_seconds=timeout,
            baseline_seconds=0,
            role="history-empty",
        ),
        Scenario(
            f"{prefix}history-backlog-{backlog // 1000}k",
            realms,
            per_realm,
            timeout_seconds=timeout,
            baseline_seconds=0,
            role="history-backlog",
            backlog_jobs=backlog,
        ),
        Scenario(
            f"{prefix}history-finished-{finished // 1000}k",
            realms,
            per_realm,
            timeout_seconds=timeout,
            baseline_seconds=0,
            role="history-finished",
            finished_jobs=finished,
        ),
    ]


QUICK = [
    Scenario(
        "quick-one-invoice",
        1,
        20,
        sequential=True,
        interval_seconds=0.25,
        timeout_seconds=60,
        baseline_seconds=5,
        role="latency",
    ),
    Scenario("quick-realms-10x10", 10, 10, timeout_seconds=90, baseline_seconds=5, role="realms"),
    *_history("quick-", 5, 10, finished=100_000, backlog=5_000, timeout=60),
    Scenario(
        "quick-backlog-1x300-200ms",
        1,
        300,
        sandbox_latency_ms=200,
        time_scale=10,
        timeout_seconds=90,
        baseline_seconds=5,
        role="backlog",
    ),
    Scenario(
        "quick-ceiling-10x20", 10, 20, limits="off", timeout_seconds=90, baseline_seconds=5, role="ceiling"
    ),
]
FULL = [
    Scenario(
        "one-invoice",
        1,
        30,
        sequential=True,
        interval_seconds=0.25,
        timeout_seconds=120,
        baseline_seconds=15,
        role="latency",
    ),
    Scenario("realms-100x20", 100, 20, timeout_seconds=420, baseline_seconds=30, role="realms"),
    *_history("", 10, 20, finished=1_000_000, backlog=50_000, timeout=180),
    # Unscaled (x1) so the realm's limits, not the pipeline's CPU, are what a realm can reach.
    Scenario(
        "backlog-1x2400-200ms",
        1,
        2400,
        sandbox_latency_ms=200,
        timeout_seconds=420,
        baseline_seconds=30,
        role="backlog",
    ),
    Scenario(
        "ceiling-100x20", 100, 20, limits="off", timeout_seconds=420, baseline_seconds=30, role="ceiling"
    ),
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


async def imported(http: httpx.AsyncClient, ends: Endpoints, tenant: Tenant, *, tries: int = 4) -> None:
    """The realm's lists imported; each wait is 30 s, a loaded machine may need a few."""
    for attempt in range(tries):
        try:
            await until_reference_imported(http, ends, tenant)
            return
        except TimeoutError:
            if attempt == tries - 1:
                raise


async def connect_realms(http: httpx.AsyncClient, ends: Endpoints, count: int) -> list[Tenant]:
    """``count`` US companies, connected, lists imported, default accounts set."""
    gate = asyncio.Semaphore(CONNECT_PARALLEL)

    async def one() -> Tenant:
        async with gate:
            realm = await create_company(http, ends, country="US")
            tenant = await connect_tenant(
                http, ends, tenant_id=f"bench-{uuid.uuid4().hex[:10]}", realm_id=realm
            )
            await imported(http, ends, tenant)
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
                await asyncio.sleep(max(0.0, sent[envelope.id] + sc.interval_seconds - time.time()))

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


@dataclass
class Window:
    """What the measured window of a scenario saw besides the bridge's own figures."""

    database: dict[str, float]
    resources: dict[str, Any]
    busy: float | None
    seconds: float
    started_at: float
    ended_at: float


async def measure_window(running: RunningStack, run: Callable[[], Awaitable[None]]) -> Window:
    """Database counters and each process's CPU over ``run()``; each edge waits (bounded) for
    Postgres to publish what the backends counted."""

    async def read() -> dict[str, float]:
        return await db.quiet_counters(running.database_url)

    backends = db.BackendCpu(running.server_url, BENCH_DATABASE)
    sampler = Sampler(running.processes, postgres=backends)
    await db.analyze(running.database_url)
    before = await read()
    started_at = time.time()
    sampling = asyncio.create_task(sampler.run())
    try:
        await run()
        after = await read()
    finally:
        sampler.stopping.set()
        await sampling
        await backends.close()
    ended_at = time.time()
    return Window(
        stats.deltas(before, after),
        sampler.report(),
        sampler.machine_busy(),
        ended_at - started_at,
        started_at,
        ended_at,
    )


async def warm_up(bus: PlatformBus, tenants: Sequence[Tenant], run: str, *, timeout: float) -> None:
    """One invoice per realm for the customer the scenario's invoices use, before it is measured:
    "one invoice at a time" is a known customer on an idle stack, not the customer's creation and
    the first event of a tenant. Then 2.1 s of quiet, so neither the request log read from
    ``since`` (whole seconds, one back) nor the measured window holds the warm-up."""
    done = Outcomes()
    queue = await bus.listen(*OUTCOMES)
    await queue.consume(done.on_message)
    for r, tenant in enumerate(tenants):
        data = invoice_data(number=f"{run}-{r:03d}-W", code=f"C{run}-{r:03d}")
        await bus.publish(event("invoice.approved", data, tenant=tenant, source="bench"))
    if not await done.until(len(tenants), deadline=time.monotonic() + timeout):
        raise RuntimeError("the warm-up invoice had no outcome in time")
    await queue.delete(if_unused=False, if_empty=False)
    await asyncio.sleep(2.1)


async def measure_bridge(
    running: RunningStack,
    http: httpx.AsyncClient,
    sc: Scenario,
    tenants: list[Tenant],
    *,
    backlog: Tenant | None,
) -> tuple[dict[str, Any], Window]:
    """Publish, wait for outcomes, then read the sandbox; (bridge figures, measured window)."""
    ends, run = running.ends, uuid.uuid4().hex[:6].upper()
    planned = plan(sc, tenants, run)
    outcomes = Outcomes()
    # The benchmark is a platform like any other: its own broker user, ingress in, egress out.
    platform = await register_platform(
        http, ends, platform_id=f"bench-{run.lower()}", tenants=[t.tenant_id for t in tenants]
    )
    bus = await PlatformBus.open(platform["amqp"])
    if sc.sequential:
        await warm_up(bus, tenants, run, timeout=sc.timeout_seconds)
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 1))
    sent: dict[str, float] = {}
    marks: dict[str, Any] = {}

    async def load() -> None:
        queue = await bus.listen(*OUTCOMES)
        await queue.consume(outcomes.on_message)
        deadline = time.monotonic() + sc.timeout_seconds
        sent.update(await publish_all(bus.publish, planned, outcomes, sc, deadline))
        marks["published_at"] = time.time()
        marks["completed"] = await outcomes.until(len(planned), deadline=deadline)

    try:
        window = await measure_window(running, load)
    finally:
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
        "machine_cpu_busy_percent": window.busy,
        "completed_before_timeout": marks.get("completed", False),
        "publish_seconds": round(marks.get("published_at", time.time()) - min(sent.values()), 2)
        if sent
        else None,
    }
    if backlog is not None:
        log, _ = await realm_records(http, ends, backlog, since)
        inside = [e for e in log if window.started_at <= stats.log_time(e) <= window.ended_at]
        figures["backlog_realm_invoices_written"] = sum(stats.written(e, "Invoice") for e in inside)
        figures["backlog_realm_qbo_calls"] = len(inside)
    return figures, window


async def seed(
    running: RunningStack, http: httpx.AsyncClient, sc: Scenario
) -> tuple[Tenant | None, dict[str, Any]]:
    """The history a scenario is measured on: finished jobs, or one more realm's queued backlog
    (cloned from a real job of that realm, written through the pipeline first)."""
    url = running.database_url
    notes: dict[str, Any] = {}
    backlog: Tenant | None = None
    if sc.backlog_jobs:
        (backlog,) = await connect_realms(http, running.ends, 1)
        template = await first_job(running, http, backlog)
        notes["backlog_seed_seconds"] = await db.clone_jobs(
            url, template_id=template, count=sc.backlog_jobs, overrides=db.backlog_overrides(BACKLOG_PREFIX)
        )
    if sc.finished_jobs:
        finished = await db.finished_job_id(url)
        if finished is None:
            raise RuntimeError("no finished job to copy (run the history scenarios in order)")
        notes["history_seed_seconds"] = await db.clone_jobs(
            url, template_id=finished, count=sc.finished_jobs, overrides=db.finished_overrides()
        )
    notes["jobs_by_status_before"] = await db.job_counts(url)
    return backlog, notes


async def first_job(running: RunningStack, http: httpx.AsyncClient, tenant: Tenant) -> str:
    """One invoice of ``tenant`` exported through the pipeline; its job's id.

    A new realm's first invoice waits until the mapper has its company's lists; right after the
    100-realm scenarios the mapper may still be importing other realms' lists, and confirms this
    one's only on a retry of its end (1, 5 then 30 s later): 60 s was once too short (12-03 11:57).
    """
    sc = Scenario("seed", 1, 1, sequential=True, timeout_seconds=180, baseline_seconds=0)
    platform = await register_platform(
        http, running.ends, platform_id=f"bench-seed-{uuid.uuid4().hex[:6]}", tenants=[tenant.tenant_id]
    )
    bus = await PlatformBus.open(platform["amqp"])
    outcomes = Outcomes()
    try:
        queue = await bus.listen(*OUTCOMES)
        await queue.consume(outcomes.on_message)
        planned = plan(sc, [tenant], "SEED" + uuid.uuid4().hex[:4].upper())
        await publish_all(bus.publish, planned, outcomes, sc, time.monotonic() + sc.timeout_seconds)
    finally:
        await bus.close()
    job = await db.job_of(running.database_url, realm_id=tenant.realm_id)
    if job is None:
        waited = f"{sc.timeout_seconds:.0f} s"
        raise RuntimeError(f"the backlog realm's first invoice was not exported in {waited}; cannot seed")
    return str(job["id"])


async def unseed(running: RunningStack, sc: Scenario) -> None:
    """A backlog left queued is taken out, so the next scenario is measured without it."""
    if sc.backlog_jobs:
        await db.delete_backlog(running.database_url, source_prefix=f"{BACKLOG_PREFIX}-")


async def run_scenario(running: RunningStack, sc: Scenario) -> dict[str, Any]:
    print(f"\n== {sc.name}: {sc.realms} realm(s) x {sc.invoices_per_realm} invoices", flush=True)
    load_before = os.getloadavg()
    async with httpx.AsyncClient(timeout=120) as http:
        # Connecting is set-up: done with no latency and no limits, as in a long-running product.
        await set_sandbox(http, running.ends, replace(sc, sandbox_latency_ms=0, limits="off"))
        tenants = await connect_realms(http, running.ends, sc.realms)
        backlog, notes = await seed(running, http, sc)
        seeded = " and seeded exporter.jobs" if sc.backlog_jobs or sc.finished_jobs else ""
        print(f"   connected {len(tenants)} realm(s){seeded}; publishing", flush=True)
        await set_sandbox(http, running.ends, sc)
        try:
            bridge, window = await measure_bridge(running, http, sc, tenants, backlog=backlog)
        finally:
            await unseed(running, sc)
        print(f"   bridge: {bridge['invoices_per_second']} invoices/s", flush=True)
    counted = bridge["invoices"] - bridge["no_outcome"] + bridge.get("backlog_realm_invoices_written", 0)
    cpu = {n: float(u["cpu_seconds"]) for n, u in window.resources.items()}
    costs = cost_figures(cpu, window.database, invoices=counted) | {
        "window_seconds": round(window.seconds, 1),
        "tables_read_most": db.table_reads(window.database),
    }
    baselines = await baselines_of(running, sc)
    bridge_rate = bridge["invoices_per_second"]
    return {
        "scenario": asdict(sc),
        "bridge": bridge,
        "costs": costs,
        **baselines,
        "ratio_to_sequential": ratio(bridge_rate, baselines["baseline"]),
        "ratio_to_parallel": ratio(bridge_rate, baselines["baseline_parallel"]),
        "resources": window.resources,
        "seeded": notes,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "cpu_count": os.cpu_count(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def ratio(bridge: float | None, baseline: dict[str, Any] | None) -> float | None:
    rate = None if baseline is None else baseline.get("invoices_per_second")
    return round(bridge / rate, 2) if bridge and rate else None


async def baselines_of(running: RunningStack, sc: Scenario) -> dict[str, dict[str, Any] | None]:
    """The python-quickbooks loop on the same sandbox: sequential, and one per realm at once."""
    out: dict[str, dict[str, Any] | None] = {"baseline": None, "baseline_parallel": None}
    if not sc.baseline_seconds:
        return out
    print("   python-quickbooks loop running", flush=True)
    for key, parallel in (("baseline", False), ("baseline_parallel", True)):
        if parallel and sc.realms < 2:
            continue
        result = await asyncio.to_thread(
            run_baseline,
            running.ends.sandbox,
            realms=sc.realms,
            per_realm=sc.invoices_per_realm,
            time_scale=sc.time_scale,
            budget_seconds=sc.baseline_seconds,
            parallel=parallel,
        )
        out[key] = {**asdict(result), "invoices_per_second": round(result.per_second, 1)}
    return out


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
        chosen = [replace(s, baseline_seconds=args.baseline_seconds) for s in chosen if s.baseline_seconds]
    return [replace(s, customer=args.customer) for s in chosen]


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="make bench", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--quick", action="store_true", help="small versions of every scenario (≤ 3 min)")
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


def _stop_on_sigterm() -> None:
    """SIGTERM ends the run as Ctrl-C does: through the ``finally`` that stops the stack and
    deletes the broker namespace."""

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    _stop_on_sigterm()
    command = "uv run python -m bench.pipeline_bench " + shlex.join(sys.argv[1:] if argv is None else argv)
    scenarios = scenarios_from(args)
    mode = (
        "custom"
        if scenarios and scenarios[0].name.startswith("custom")
        else "partial"
        if args.only
        else "quick"
        if args.quick
        else "full"
    )
    results: list[dict[str, Any]] = []
    groups: dict[tuple[float, str], list[Scenario]] = {}
    for sc in scenarios:
        groups.setdefault((sc.time_scale, sc.limits), []).append(sc)
    started = time.monotonic()
    for (time_scale, limits), group in groups.items():
        # The services' limiter must scale time as the sandbox does, so each group has its own stack.
        running = start_stack(time_scale=time_scale, limits=limits)
        try:
            for sc in group:
                try:
                    results.append(asyncio.run(run_scenario(running, sc)))
                except Exception as exc:  # one scenario failing must not lose the others' figures
                    print(f"   {sc.name} failed: {exc!r}", flush=True)
                    results.append({"scenario": asdict(sc), "error": repr(exc)[:500]})
                # What is measured so far survives a later failure.
                report.write("", {"command": command.strip(), "scenarios": results}, mode=mode)
        finally:
            running.stop()
    order = {sc.name: i for i, sc in enumerate(scenarios)}
    results.sort(key=lambda r: order[r["scenario"]["name"]])
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    machine = (
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} at the end, {when}, "
        f"{(time.monotonic() - started) / 60:.1f} min"
    )
    found = verdicts(results)
    text = report.markdown(results, found, command=command.strip(), machine=machine)
    print("\n" + text, flush=True)
    paths = report.write(
        text,
        {
            "command": command.strip(),
            "machine": machine,
            "targets": [v.public() for v in found],
            "scenarios": results,
        },
        mode=mode,
    )
    print("written to " + ", ".join(str(p) for p in paths), flush=True)


if __name__ == "__main__":
    main()
