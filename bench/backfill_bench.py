"""``python -m bench.backfill_bench [--quick]``: a history backfill beside live traffic (issue 13).

10,000 historic invoices (``--quick``: 1,000) of one realm go through ``POST mapper:/v1/events/bulk``
(100 customers, as a company's history has), while a platform publishes one live invoice for that
realm and one for another realm every ``--live-every`` seconds until the batch is done. Figures:
the backfill's QBO objects per minute (the sandbox's request log, first history write to last)
against Intuit's per-realm ceiling for one app (batch requests a minute x 30 objects), and the live
invoices' latency (publish → ``sync.succeeded``), p50/p95 per realm. Intuit's limits are on, time
is not scaled. Its own stack: ports 18400-18405, database ``qbo_bridge_bench_backfill`` (so it
may run beside ``make bench``). Results: ``bench/results/backfill-{quick,full}.{md,json}``.

    uv run python -m bench.backfill_bench [--quick] [--invoices N] [--live-every S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import pipeline_stats as stats
from bench.pipeline_bench import OUTCOMES, Outcomes, connect_realms, invoice_data, set_sandbox
from bench.pipeline_bench import Scenario as PipelineScenario
from bench.pipeline_stack import RunningStack, start_stack
from scripts import stack
from scripts.journey import PlatformBus, Tenant, event, register_platform

PORTS = stack.Ports(18400)
DATABASE = "qbo_bridge_bench_backfill"
RESULTS = Path(__file__).parent / "results"
CUSTOMERS = 100
BATCH_ITEMS = 30  # QBO's batch request carries at most 30 operations (reference §6)
NDJSON = {"Content-Type": "application/x-ndjson"}


@dataclass
class Live:
    """The live invoices sent during the backfill: event id → (realm, publish time)."""

    sent: dict[str, tuple[str, float]] = field(default_factory=dict)


def history_file(tenant: Tenant, count: int, run: str) -> bytes:
    """``count`` invoices of ``tenant`` as NDJSON, their customers among ``CUSTOMERS``."""
    lines = []
    for n in range(count):
        data = invoice_data(number=f"H{run}-{n:05d}", code=f"HC{run}-{n % CUSTOMERS:03d}")
        lines.append(event("invoice.approved", data, tenant=tenant, source="bench-history").model_dump_json())
    return "\n".join(lines).encode()


async def live_traffic(
    bus: PlatformBus, tenants: list[Tenant], live: Live, every: float, stop: asyncio.Event
) -> None:
    """One live invoice per realm every ``every`` seconds until ``stop``."""
    run = uuid.uuid4().hex[:4].upper()
    n = 0
    while not stop.is_set():
        for tenant in tenants:
            data = invoice_data(number=f"L{run}-{n:04d}", code=f"LC{run}-{n:04d}")
            envelope = event("invoice.approved", data, tenant=tenant, source="bench-live")
            live.sent[envelope.id] = (tenant.realm_id, time.time())
            await bus.publish(envelope)
        n += 1
        try:
            await asyncio.wait_for(stop.wait(), timeout=every)
        except TimeoutError:
            continue


async def follow(
    http: httpx.AsyncClient, url: str, headers: dict[str, str], deadline: float
) -> dict[str, Any]:
    """The batch's status until it is done (or the deadline passes)."""
    state: dict[str, Any] = {"status_errors": 0}
    while time.monotonic() < deadline:
        try:
            answer = await http.get(url, headers=headers)
        except httpx.HTTPError:
            answer = None
        if answer is not None and answer.status_code == 200:
            state = {**answer.json(), "status_errors": state["status_errors"]}
            if state.get("done"):
                break
        else:  # a loaded machine may answer late or restart a service: counted, asked again
            state["status_errors"] += 1
        await asyncio.sleep(2.0)
    return state


async def measure(running: RunningStack, *, invoices: int, every: float, timeout: float) -> dict[str, Any]:
    ends = running.ends
    async with httpx.AsyncClient(timeout=600) as http:
        setup = PipelineScenario("setup", 2, 0, limits="off")
        await set_sandbox(http, ends, setup)
        history, other = await connect_realms(http, ends, 2)
        await set_sandbox(http, ends, PipelineScenario("backfill", 2, 0, limits="real"))
        limits = (await http.get(f"{ends.sandbox}/admin/limits")).json()
        run = uuid.uuid4().hex[:6].upper()
        platform = await register_platform(
            http, ends, platform_id=f"bench-{run.lower()}", tenants=[history.tenant_id, other.tenant_id]
        )
        bus = await PlatformBus.open(platform["amqp"])
        outcomes, live, stop = Outcomes(), Live(), asyncio.Event()
        body = history_file(history, invoices, run)
        since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 1))
        try:
            queue = await bus.listen(*OUTCOMES)
            await queue.consume(outcomes.on_message)
            started = time.time()
            answer = await http.post(
                f"{ends.mapper}/v1/events/bulk", content=body, headers=NDJSON | ends.admin
            )
            answer.raise_for_status()
            accepted_at = time.time()
            traffic = asyncio.create_task(live_traffic(bus, [history, other], live, every, stop))
            batch_url = f"{ends.mapper}/v1/batches/{answer.json()['batch_id']}"
            state = await follow(http, batch_url, ends.admin, time.monotonic() + timeout)
            done_at = time.time()
            stop.set()
            await traffic
            live_done = await _live_outcomes(outcomes, live, deadline=time.monotonic() + 120)
        finally:
            stop.set()
            await bus.close()
        log = (
            await http.get(
                f"{ends.sandbox}/admin/requests", params={"realm_id": history.realm_id, "since": since}
            )
        ).json()
    return figures(
        invoices=invoices,
        state=state,
        log=log,
        limits=limits,
        live=live,
        outcomes=outcomes,
        realms={"backfill realm": history.realm_id, "other realm": other.realm_id},
        times={"started": started, "accepted": accepted_at, "done": done_at},
        live_complete=live_done,
    )


async def _live_outcomes(outcomes: Outcomes, live: Live, *, deadline: float) -> bool:
    while not all(e in outcomes.by_event for e in live.sent):
        if time.monotonic() > deadline:
            return False
        outcomes.changed.clear()
        try:
            await asyncio.wait_for(outcomes.changed.wait(), timeout=1.0)
        except TimeoutError:
            continue
    return True


def figures(
    *,
    invoices: int,
    state: dict[str, Any],
    log: list[dict[str, Any]],
    limits: dict[str, Any],
    live: Live,
    outcomes: Outcomes,
    realms: dict[str, str],
    times: dict[str, float],
    live_complete: bool,
) -> dict[str, Any]:
    """The backfill's pace against the ceiling, and the live invoices' latency per realm."""
    writes = [e for e in log if stats.written(e)]
    objects = sum(stats.written(e) for e in writes)
    span = (stats.log_time(writes[-1]) - stats.log_time(writes[0])) / 60 if len(writes) > 1 else None
    ceiling = int(limits["batch_per_minute"]) * BATCH_ITEMS
    latency: dict[str, Any] = {}
    for label, realm in realms.items():
        waits = [
            outcomes.by_event[e][1] - sent
            for e, (r, sent) in live.sent.items()
            if r == realm and e in outcomes.by_event and outcomes.by_event[e][0] == "sync.succeeded"
        ]
        sent_count = sum(1 for r, _ in live.sent.values() if r == realm)
        latency[label] = {**stats.summary_ms(waits), "sent": sent_count}
    per_minute = round(objects / span, 1) if span else None
    batches, items = stats.batch_fill(log)
    return {
        "invoices": invoices,
        "batch": state,
        "qbo_objects_written_in_backfill_realm": objects,
        "backfill_minutes_first_to_last_write": round(span, 2) if span else None,
        "backfill_minutes_post_to_done": round((times["done"] - times["started"]) / 60, 2),
        "bulk_post_seconds": round(times["accepted"] - times["started"], 2),
        "objects_per_minute": per_minute,
        "ceiling_objects_per_minute": ceiling,
        "share_of_ceiling": round(per_minute / ceiling, 2) if per_minute else None,
        "batch_requests": batches,
        "batch_fill": round(items / batches, 1) if batches else None,
        "throttled_429": stats.count_429(log),
        "live_latency_ms": latency,
        "live_all_succeeded": live_complete,
        "limits": limits,
    }


def markdown(result: dict[str, Any], *, command: str, machine: str) -> str:
    f = result["figures"]
    rows = [
        ("historic invoices (bulk API)", f"{f['invoices']:,}"),
        (
            "batch at the end",
            json.dumps({k: f["batch"].get(k) for k in ("total", "succeeded", "failed", "pending", "done")}),
        ),
        (
            "QBO objects written in the backfill realm (with its live invoices and their customers)",
            f"{f['qbo_objects_written_in_backfill_realm']:,}",
        ),
        ("backfill objects/min (first to last write)", f"{f['objects_per_minute']}"),
        ("Intuit's per-realm ceiling, one app (batches/min x 30)", f"{f['ceiling_objects_per_minute']:,}"),
        ("share of the ceiling", f"{f['share_of_ceiling']}"),
        ("batch requests, mean items each", f"{f['batch_requests']}, {f['batch_fill']}"),
        ("429s", f"{f['throttled_429']}"),
        ("minutes from POST to batch done", f"{f['backfill_minutes_post_to_done']}"),
    ]
    for label, lat in f["live_latency_ms"].items():
        rows.append(
            (
                f"live invoices, {label}: p50 / p95 ms (succeeded of sent)",
                f"{lat['p50']} / {lat['p95']} ({lat['n']} of {lat['sent']})",
            )
        )
    table = "\n".join(f"| {k} | {v} |" for k, v in rows)
    head = f"# Backfill beside live traffic\n\n`{command}` — {machine}\n\n"
    return f"{head}| figure | value |\n|---|---|\n{table}\n"


def _stop_on_sigterm() -> None:
    """SIGTERM ends the run as Ctrl-C does: through the ``finally`` that stops the stack and
    deletes its broker namespace."""

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.backfill_bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="1,000 historic invoices instead of 10,000")
    parser.add_argument("--invoices", type=int)
    parser.add_argument("--live-every", type=float, default=2.0, help="seconds between live invoices")
    parser.add_argument("--timeout", type=float, default=1800.0, help="bound on the wait for the batch (s)")
    args = parser.parse_args(argv)
    invoices = args.invoices or (1_000 if args.quick else 10_000)
    _stop_on_sigterm()
    command = "uv run python -m bench.backfill_bench " + shlex.join(sys.argv[1:] if argv is None else argv)
    started = time.monotonic()
    running = start_stack(time_scale=1.0, limits="real", ports=PORTS, database=DATABASE)
    try:
        found = asyncio.run(measure(running, invoices=invoices, every=args.live_every, timeout=args.timeout))
    finally:
        running.stop()
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    minutes = (time.monotonic() - started) / 60
    machine = f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} at the end, {when}, {minutes:.1f} min"
    result = {"command": command.strip(), "machine": machine, "figures": found}
    mode = "quick" if args.quick else "full"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"backfill-{mode}.json").write_text(json.dumps(result, indent=2) + "\n")  # first: kept
    text = markdown(result, command=command.strip(), machine=machine)
    (RESULTS / f"backfill-{mode}.md").write_text(text)
    print("\n" + text, flush=True)


if __name__ == "__main__":
    main()
