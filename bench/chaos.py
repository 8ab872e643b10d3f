"""``make chaos``: faults and bad input against a stack of its own, with an oracle.

The run starts its own RabbitMQ node and Postgres cluster (bench/chaos_infra.py, ports 5673 and
5433: the machine's shared ones are never restarted) and the stack as ``make run`` does
(``scripts.stack``, which restarts what dies) on ports away from the dev stack, plus a second
exporter (so a stopped one's jobs are taken over). Crash points are armed in every process. Load:
seeded invoice stories over several tenants (creates, updates, voids, payments, repeats,
out-of-order pairs; bench/chaos_load.py). Faults, one kind at a time and then mixed
(bench/chaos_faults.py). Bad input: poison bodies, schema-drawn and mutated envelopes to the
broker and ``POST /v1/events``, forged and replayed webhooks, schemathesis on every service's
OpenAPI with one tenant's key on another's ids (bench/chaos_inputs.py). The oracle
(bench/chaos_oracle.py) then compares QBO (the sandbox), the outcomes, the dead letters, the
queues and the outboxes with what the events mean. Figures: ``bench/results/chaos.{json,md}``.

    uv run python -m bench.chaos [--seed N --tenants N --invoices N --base-port P]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import httpx

from bench import chaos_faults, chaos_inputs, chaos_load, chaos_oracle
from bench.chaos_crash import CrashPhases
from bench.chaos_infra import OwnInfra
from bench.chaos_report import write_results
from scripts import stack
from scripts.journey import (
    DEMO_SETTINGS,
    Bus,
    Endpoints,
    Tenant,
    apply_settings,
    connect_tenant,
    create_company,
    until_reference_imported,
)
from shared.contracts.envelope import Envelope
from shared.db import asyncpg_dsn
from shared.messaging import topology

ROOT = Path(__file__).resolve().parents[1]
RUN_DIR = ROOT / ".run"
DATABASE = "qbo_bridge_chaos"
LEASE_SECONDS = 8  # the exporter's lease in this run: SIGSTOP lasts longer than it
VERIFIER = "dev-webhook-verifier-token"
KEEP_LOADING_PAUSE = 1.0  # seconds between the stories sent while the crash phases still run


async def fresh_database(server_url: str) -> str:
    conn = await asyncpg.connect(asyncpg_dsn(server_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await conn.close()
    return server_url.rsplit("/", 1)[0] + f"/{DATABASE}"


def stack_env(infra: OwnInfra, database_url: str, namespace: str) -> dict[str, str]:
    return {
        **os.environ,
        "QBB_DATABASE_URL": database_url,
        "QBB_AMQP_URL": infra.amqp_url,
        "QBB_AMQP_NAMESPACE": namespace,
        "QBB_RABBITMQ_MANAGEMENT_URL": infra.management_url,
        "QBB_LOG_LEVEL": "WARNING",
        "QBB_CRASH_POINTS": "",  # armed only in the crash phases' replicas (bench/chaos_crash.py)
        "QBB_LEASE_SECONDS": str(LEASE_SECONDS),
        "QBB_DB_POOL_SIZE": "3",
    }


def start_stack(base_port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``make run`` on ``base_port`` (it supervises and restarts its children)."""
    RUN_DIR.mkdir(exist_ok=True)
    with (RUN_DIR / "chaos-stack.out").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "scripts.stack", "--base-port", str(base_port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the children can be stopped with it
        )


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group ``process`` leads (SIGCONT first: one may be stopped), then SIGKILL
    to whatever is left of it after 60 s."""
    for sig in (signal.SIGCONT, signal.SIGTERM):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(60)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


async def watch_supervisor(process: subprocess.Popen[bytes], run: asyncio.Task[Any] | None) -> None:
    """Cancel ``run`` if the stack's supervisor dies: the run could only wait for services that
    nobody starts again (seen: every process of the run killed from outside, by name)."""
    while process.poll() is None:  # noqa: ASYNC110 - a child process, polled
        await asyncio.sleep(1)
    if run is not None:
        run.cancel()


def start_second_exporter(ports: stack.Ports, env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    """A second exporter replica (not supervised: it is the one SIGSTOPped past its lease)."""
    child_env = {**stack.dev_defaults(ports), **env, "QBB_HTTP_PORT": str(port)}
    with (RUN_DIR / "exporter-b.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "services.exporter"],
            cwd=ROOT,
            env=child_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _says_supervising(output: Path) -> bool:
    said = output.read_text(errors="replace") if output.exists() else ""
    return any(line.startswith(("development platform", "  platform  ")) for line in said.splitlines())


async def until_supervising(process: subprocess.Popen[bytes], output: Path, timeout: float) -> None:
    """Until the stack has started its console and registered its platform: only then does it
    supervise (restart) its services, so no fault may come before (seen: the four services
    SIGKILLed while the console was starting stayed down until it had started)."""
    async with asyncio.timeout(timeout):
        while process.poll() is None:
            if await asyncio.to_thread(_says_supervising, output):
                return
            await asyncio.sleep(0.5)
    raise RuntimeError(f"make chaos: the stack exited ({process.returncode}); see {output}")


async def until_up(http: httpx.AsyncClient, urls: list[str], timeout: float) -> None:
    async with asyncio.timeout(timeout):
        for url in urls:
            while True:
                try:
                    if (await http.get(f"{url}/readyz", timeout=3)).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.5)


async def connect(http: httpx.AsyncClient, ends: Endpoints, count: int, services: list[str]) -> list[Tenant]:
    """``count`` connected companies; a crash point may kill a service on the way: start that one again."""
    tenants: list[Tenant] = []
    for _ in range(count * 4):
        if len(tenants) == count:
            break
        try:
            realm = await create_company(http, ends, country="US")
            tenant = await connect_tenant(
                http, ends, tenant_id=f"chaos-{uuid.uuid4().hex[:8]}", realm_id=realm
            )
            await until_reference_imported(http, ends, tenant)
            await apply_settings(http, ends, tenant, DEMO_SETTINGS)
            tenants.append(tenant)
        except (httpx.TransportError, httpx.HTTPStatusError, RuntimeError, TimeoutError) as exc:
            print(f"make chaos: connecting a tenant failed ({type(exc).__name__}: {exc}); again", flush=True)
            await until_up(http, services, timeout=120)
    if len(tenants) < count:
        raise RuntimeError(f"only {len(tenants)} of {count} tenants could be connected")
    return tenants


async def publish(bus: Bus, envelope: Envelope) -> None:
    for _ in range(60):  # the broker may be restarting or alarmed: retry, as a platform does
        try:
            async with asyncio.timeout(15):
                await bus.publish(envelope)
            return
        except (aio_pika.exceptions.AMQPError, ConnectionError, TimeoutError, RuntimeError):
            await asyncio.sleep(1)
    raise RuntimeError(f"could not publish {envelope.id}")


async def load(bus: Bus, plan: list[Envelope], seconds: float) -> None:
    pause = seconds / max(1, len(plan))
    for envelope in plan:
        await publish(bus, envelope)
        await asyncio.sleep(pause)


async def keep_loading(
    bus: Bus, stories: list[chaos_load.Story], more: Iterator[chaos_load.Story], until: asyncio.Task[Any]
) -> int:
    """After the plan: one more story at a time (all its deliveries) until ``until`` is done, so the
    crash phases always have live work (a phase after the load found nothing to crash on); each is
    added to ``stories`` before its first delivery, so the oracle judges it too. How many."""
    added = 0
    while not until.done():
        s = next(more)
        stories.append(s)
        added += 1
        for envelope in s.delivery:
            await publish(bus, envelope)
        await asyncio.sleep(KEEP_LOADING_PAUSE)
    return added


async def listen(
    amqp_url: str, namespace: str, outcomes: chaos_oracle.Outcomes
) -> tuple[aio_pika.abc.AbstractConnection, aio_pika.abc.AbstractChannel, aio_pika.abc.AbstractQueue]:
    """A durable queue of every outcome (an exclusive one would vanish with a broker restart).

    The caller keeps all three: a channel nobody references is collected, and its consumer with it.
    """
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel()
    exchange = await topology.declare_exchange(channel, namespace)
    queue = await channel.declare_queue(f"{namespace}chaos.outcomes", durable=True)
    for key in chaos_oracle.OUTCOMES:
        await queue.bind(exchange, routing_key=key)

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            outcomes.add(message.body)

    await queue.consume(on_message)
    return connection, channel, queue


async def until_settled(
    stories: list[chaos_load.Story], outcomes: chaos_oracle.Outcomes, timeout: float
) -> bool:
    """Until every story event has an outcome (bounded); True when they all have."""
    events = [(e, s) for s in stories for e in s.events]
    try:
        async with asyncio.timeout(timeout):
            while any(not outcomes.of(e, s) for e, s in events):  # noqa: ASYNC110 - polled state, bounded
                await asyncio.sleep(1)
        return True
    except TimeoutError:
        return False


async def until_drained(amqp_url: str, namespace: str, database_url: str, timeout: float) -> None:
    try:
        async with asyncio.timeout(timeout):
            while True:
                queued = await chaos_oracle.left_in_queues(amqp_url, namespace)
                staged = sum((await chaos_oracle.left_in_outboxes(database_url)).values())
                if queued == 0 and staged == 0:
                    return
                await asyncio.sleep(1)
    except TimeoutError:
        pass


async def bad_input(
    inputs: chaos_inputs.Inputs,
    args: argparse.Namespace,
    infra: OwnInfra,
    namespace: str,
    ends: Endpoints,
    tenant: Tenant,
) -> None:
    bodies = await asyncio.to_thread(chaos_inputs.drawn_envelopes, args.seed, args.fuzz_events)
    connection = await aio_pika.connect_robust(infra.amqp_url)
    try:
        channel = await connection.channel()
        async with httpx.AsyncClient(timeout=30) as http:
            await chaos_inputs.send_poison(inputs, channel, namespace, http, ends.mapper, tenant)
            await chaos_inputs.send_events(inputs, channel, namespace, http, ends.mapper, tenant, bodies)
            await chaos_inputs.send_bulk(inputs, http, ends.mapper, tenant, bodies)
            await chaos_inputs.send_webhooks(inputs, http, ends.webhooks, tenant.realm_id, VERIFIER)
    finally:
        await connection.close()


async def main_async(args: argparse.Namespace, infra: OwnInfra) -> dict[str, Any]:
    await asyncio.to_thread(infra.start)
    database_url = await fresh_database(infra.database_server_url)
    ports = stack.Ports(args.base_port)
    namespace = f"chaos{uuid.uuid4().hex[:6]}."
    ends = Endpoints(
        sandbox=f"http://127.0.0.1:{ports.sandbox}",
        namespace=namespace,
        **{n: f"http://127.0.0.1:{p}" for n, p in ports.services.items()},
    )
    service_urls = [ends.auth, ends.mapper, ends.exporter, ends.webhooks]
    env = stack_env(infra, database_url, namespace)
    stack_proc = start_stack(args.base_port, env)
    second: subprocess.Popen[bytes] | None = None
    outcomes, inputs = chaos_oracle.Outcomes(), chaos_inputs.Inputs()
    crashes = CrashPhases(ports, env, RUN_DIR, args.base_port + 30)
    started = time.monotonic()
    watchdog = asyncio.create_task(watch_supervisor(stack_proc, asyncio.current_task()))
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            await until_up(http, service_urls, timeout=300)
            await until_supervising(stack_proc, RUN_DIR / "chaos-stack.out", timeout=300)
            second = start_second_exporter(ports, env, args.base_port + 20)
            tenants = await connect(http, ends, args.tenants, service_urls)
            listener, _channel, _queue = await listen(infra.amqp_url, namespace, outcomes)
            stories = chaos_load.stories(args.seed, tenants, args.invoices)
            plan = chaos_load.delivery_plan(stories, args.seed)
            faults = chaos_faults.Faults(
                infra,
                stack_proc,
                http,
                ends.sandbox,
                DATABASE,
                random.Random(args.seed + 1),
                extra_exporter=second,
            )
            load_started = time.monotonic()
            fault_run = asyncio.create_task(faults.run())
            crash_run = asyncio.create_task(crashes.run())
            more = chaos_load.continued(args.seed, tenants, args.invoices)
            kept: asyncio.Task[int] | None = None
            try:
                bus = await Bus.open(infra.amqp_url, namespace)
                await load(bus, plan, args.load_seconds)
                kept = asyncio.create_task(keep_loading(bus, stories, more, crash_run))
                await bad_input(inputs, args, infra, namespace, ends, tenants[0])
                await fault_run
                await crash_run
                kept_stories = await kept
            finally:
                fault_run.cancel()
                crash_run.cancel()
                if kept is not None:
                    kept.cancel()
            await until_up(http, service_urls, timeout=180)
            settled = await until_settled(stories, outcomes, timeout=args.drain_timeout)
            await until_drained(infra.amqp_url, namespace, database_url, timeout=60)
            drained_at = outcomes.last_at
            last_fault = max(faults.last_at, crashes.last_at)
            if len(tenants) > 1:
                await asyncio.to_thread(
                    chaos_inputs.fuzz_openapi,
                    inputs,
                    {
                        "auth": ends.auth,
                        "mapper": ends.mapper,
                        "exporter": ends.exporter,
                        "webhooks": ends.webhooks,
                    },
                    key=tenants[0].key,
                    other=tenants[1],
                    per_operation=args.fuzz_per_route,
                )
            await until_drained(infra.amqp_url, namespace, database_url, timeout=60)
            await asyncio.sleep(5)  # stragglers: a doubled outcome would arrive now
            result = await oracle(stories, outcomes, inputs, http, ends, infra, namespace, database_url)
            await listener.close()
    except asyncio.CancelledError:
        if stack_proc.poll() is None:
            raise
        raise RuntimeError(
            f"make chaos: the stack's supervisor exited ({stack_proc.returncode}) mid-run, so nothing"
            " restarts its services; something outside this run killed it (see .run/chaos-stack.out)"
        ) from None
    finally:
        watchdog.cancel()
        crashes.stop()
        for process in (p for p in (second, stack_proc) if p is not None):
            stop_group(process)
    return {
        "seed": args.seed,
        "tenants": args.tenants,
        "invoices_per_tenant": args.invoices,
        "load": chaos_load.figures(stories) | {"stories_while_crash_phases_ran": kept_stories},
        "all_settled": settled,
        "faults": dict(sorted(faults.done.items())),
        "crash_points": crashes.figures(),
        "bad_input": {
            "kinds": dict(sorted(inputs.kinds.items())),
            "http_statuses": {str(k): v for k, v in sorted(inputs.http_statuses.items())},
            "server_errors": inputs.server_errors[:20],
            "server_error_count": len(inputs.server_errors),
            "cross_tenant_leaks": inputs.cross_tenant_leaks[:20],
            "webhooks": dict(sorted(inputs.webhook_statuses.items())),
            "operations_not_fuzzed": inputs.not_fuzzed,
            "bulk_lines": dict(sorted(inputs.bulk_lines.items())),
            "bulk_problems": inputs.bulk_problems[:20],
            "bulk_problem_count": len(inputs.bulk_problems),
        },
        "seconds_to_drain_after_last_fault": round(max(0.0, drained_at - last_fault), 1),
        "load_to_drained_seconds": round(drained_at - load_started, 1),
        "run_seconds": round(time.monotonic() - started, 1),
        **result,
    }


async def oracle(
    stories: list[chaos_load.Story],
    outcomes: chaos_oracle.Outcomes,
    inputs: chaos_inputs.Inputs,
    http: httpx.AsyncClient,
    ends: Endpoints,
    infra: OwnInfra,
    namespace: str,
    database_url: str,
) -> dict[str, Any]:
    checked = await chaos_oracle.check_stories(stories, outcomes, http, ends.sandbox)
    dead = await chaos_oracle.dead_letters(infra.amqp_url, namespace)
    dead_ids = dead.pop("ids")
    unaccounted = sorted(
        i for i in inputs.broker_ids | inputs.accepted_ids if i not in dead_ids and i not in outcomes.by_event
    )
    return {
        **checked,
        "bad_input_unaccounted": len(unaccounted),
        "bad_input_unaccounted_examples": unaccounted[:5],
        "dead_letters": dead,
        "left_in_queues": await chaos_oracle.left_in_queues(infra.amqp_url, namespace),
        "left_in_outboxes": await chaos_oracle.left_in_outboxes(database_url),
        "unfinished_jobs": await chaos_oracle.waiting_jobs(database_url),
        "sandbox_writes": await chaos_oracle.request_log(
            http, ends.sandbox, {s.tenant.realm_id for s in stories}
        ),
    }


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt  # SIGTERM cleans up like Ctrl-C


def main() -> None:
    parser = argparse.ArgumentParser(prog="make chaos")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--tenants", type=int, default=3)
    parser.add_argument("--invoices", type=int, default=30, help="stories per tenant")
    parser.add_argument("--base-port", type=int, default=18090)
    parser.add_argument("--load-seconds", type=float, default=120.0)
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    parser.add_argument("--fuzz-events", type=int, default=120, help="schema-drawn, mutated envelopes")
    parser.add_argument("--fuzz-per-route", type=int, default=15, help="schemathesis cases per operation")
    args = parser.parse_args()
    infra = OwnInfra()
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        figures = asyncio.run(asyncio.wait_for(main_async(args, infra), timeout=900))
    finally:
        signal.signal(signal.SIGTERM, previous)
        infra.stop()  # also on Ctrl-C: the node and the cluster go, with their files
    write_results(figures, ROOT / "bench" / "results")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
