"""``make run``: the local stack — database and broker found (or started), migrations, the sandbox
with the development app registered, the four services, each answering ``/readyz``, and the console.

Settings already in the environment (``QBB_*``) override the development defaults below.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from shared.db import asyncpg_dsn, migrate
from shared.infra import Found, answers, docker_engine_answers, find_broker, find_database, missing_message

ROOT = Path(__file__).resolve().parents[1]
RUN_DIR = ROOT / ".run"
SERVICES = {"auth": 8091, "mapper": 8092, "exporter": 8093, "webhooks": 8094}
SANDBOX_PORT = 8090
CONSOLE_PORT = 8095
DEV_CLIENT_ID = "qbo-bridge-dev"
DEV_PLATFORM = "dev-platform"
DEV_TENANT = "dev-tenant"
DEV_PLATFORM_FILE = RUN_DIR / "dev-platform.json"
DEV_DEFAULTS = {
    "QBB_ENVIRONMENT": "development",
    "QBB_INTUIT_CLIENT_ID": DEV_CLIENT_ID,
    "QBB_INTUIT_CLIENT_SECRET": "dev-client-secret-for-the-sandbox",
    "QBB_WEBHOOK_VERIFIER_TOKEN": "dev-webhook-verifier-token",
    "QBB_ADMIN_API_KEY": "dev-admin-key",
    "QBB_INTERNAL_TOKEN": "dev-internal-token",
    "QBB_INTUIT_DISCOVERY_URL": f"http://127.0.0.1:{SANDBOX_PORT}/.well-known/openid_sandbox_configuration",
    "QBB_QBO_API_BASE": f"http://127.0.0.1:{SANDBOX_PORT}",
    "QBB_AUTH_INTERNAL_URL": f"http://127.0.0.1:{SERVICES['auth']}",
    "QBB_PUBLIC_BASE_URL": f"http://127.0.0.1:{SERVICES['auth']}",
}


@dataclass
class Infra:
    database: Found
    broker: Found


def find_infra() -> Infra:
    """The database and broker to use; docker compose starts them when only an engine is there."""
    database, broker = find_database(), find_broker()
    if (database is None or broker is None) and docker_engine_answers():
        missing = [s for s, f in (("postgres", database), ("rabbitmq", broker)) if f is None]
        subprocess.run(["docker", "compose", "up", "-d", "--wait", *missing], cwd=ROOT, check=True)
        database, broker = database or find_database(), broker or find_broker()
    for what, found in (("database", database), ("broker", broker)):
        if found is None:
            sys.exit(f"make run: {missing_message(what)}")
    assert database is not None
    assert broker is not None
    return Infra(database, broker)


async def ensure_database(url: str) -> None:
    """Create the database named in ``url`` if the server does not have it yet."""
    target = make_url(url)
    maintenance = target.set(database="postgres").render_as_string(hide_password=False)
    conn = await asyncpg.connect(asyncpg_dsn(maintenance))
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", target.database):
            await conn.execute(f'CREATE DATABASE "{target.database}"')
    finally:
        await conn.close()


async def migrate_all(url: str) -> None:
    """Every service's Alembic migrations, as each service does at start."""
    for name in SERVICES:
        await migrate(migrations_dir=ROOT / "services" / name / "migrations", database_url=url, schema=name)


def start(name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A child process whose output goes to ``.run/<name>.log``."""
    RUN_DIR.mkdir(exist_ok=True)
    log = (RUN_DIR / f"{name}.log").open("ab")
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_until(url: str, *, timeout: float, process: subprocess.Popen[bytes], name: str) -> None:
    """Wait until ``url`` answers 200, or stop saying which process failed and where its log is."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"make run: {name} exited with {process.returncode}; see .run/{name}.log")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    sys.exit(f"make run: {name} not ready at {url} after {timeout:.0f} s; see .run/{name}.log")


def register_dev_app(env: dict[str, str]) -> None:
    """The development app in the sandbox: redirect to auth, webhooks to the webhooks service."""
    body = {
        "client_id": env["QBB_INTUIT_CLIENT_ID"],
        "client_secret": env["QBB_INTUIT_CLIENT_SECRET"],
        "redirect_uris": [f"{env['QBB_PUBLIC_BASE_URL']}/v1/oauth/callback"],
        "webhook_url": f"http://127.0.0.1:{SERVICES['webhooks']}/v1/webhooks/qbo",
        "webhook_verifier_token": env["QBB_WEBHOOK_VERIFIER_TOKEN"],
        "webhook_format": "cloudevents",
    }
    httpx.post(f"http://127.0.0.1:{SANDBOX_PORT}/admin/apps", json=body, timeout=10).raise_for_status()


def busy_ports() -> list[int]:
    ports = (SANDBOX_PORT, *SERVICES.values(), CONSOLE_PORT)
    return [p for p in ports if answers(f"http://127.0.0.1:{p}")]


def main() -> None:
    parser = argparse.ArgumentParser(prog="make run")
    parser.add_argument("--migrate-only", action="store_true")
    args = parser.parse_args()
    infra = find_infra()
    asyncio.run(ensure_database(infra.database.url))
    asyncio.run(migrate_all(infra.database.url))
    if args.migrate_only:
        print(f"migrated: {', '.join(SERVICES)} ({infra.database.origin} database)")
        return
    if busy := busy_ports():
        sys.exit(f"make run: ports {busy} are already in use; stop what runs there (an earlier `make run`?)")
    env = {
        **DEV_DEFAULTS,
        **os.environ,
        "QBB_DATABASE_URL": infra.database.url,
        "QBB_AMQP_URL": infra.broker.url,
    }
    processes = run_stack(env)
    print_urls()
    print_platform(register_dev_platform(env))
    supervise(processes)


def run_stack(env: dict[str, str]) -> dict[str, subprocess.Popen[bytes]]:
    sandbox = start("sandbox", ["-m", "sandbox", "--host", "127.0.0.1", "--port", str(SANDBOX_PORT)], env)
    wait_until(
        f"http://127.0.0.1:{SANDBOX_PORT}/.well-known/openid_sandbox_configuration",
        timeout=30,
        process=sandbox,
        name="sandbox",
    )
    register_dev_app(env)
    processes = {"sandbox": sandbox}
    for name, port in SERVICES.items():
        processes[name] = start(name, ["-m", f"services.{name}"], {**env, "QBB_HTTP_PORT": str(port)})
    for name, port in SERVICES.items():
        wait_until(f"http://127.0.0.1:{port}/readyz", timeout=60, process=processes[name], name=name)
    processes["console"] = start_console(env)
    return processes


def start_console(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """The console, once the services it calls answer (its URL settings default to their ports)."""
    urls = {f"QBB_{name.upper()}_URL": f"http://127.0.0.1:{port}" for name, port in SERVICES.items()}
    sandbox = {"QBB_SANDBOX_URL": f"http://127.0.0.1:{SANDBOX_PORT}"}
    console_env = {**urls, **sandbox, **env, "QBB_HTTP_PORT": str(CONSOLE_PORT)}
    process = start("console", ["-m", "services.console"], console_env)
    wait_until(f"http://127.0.0.1:{CONSOLE_PORT}/readyz", timeout=30, process=process, name="console")
    return process


def print_urls() -> None:
    lines = [f"  sandbox   http://127.0.0.1:{SANDBOX_PORT}/   (QuickBooks Online emulator; its HTML view)"]
    lines += [f"  {name:<9} http://127.0.0.1:{port}/docs" for name, port in SERVICES.items()]
    lines += [f"  console   http://127.0.0.1:{CONSOLE_PORT}/   (sign in with an API key or the admin key)"]
    print("qbo-bridge is running (logs in .run/, Ctrl-C stops it):\n" + "\n".join(lines), flush=True)


def register_dev_platform(env: dict[str, str]) -> dict[str, Any] | None:
    """The development platform (tenant ``dev-tenant``), registered once; its credentials are shown
    once by auth, so they are kept in ``.run/dev-platform.json`` for the next ``make run``."""
    answer = httpx.post(
        f"http://127.0.0.1:{SERVICES['auth']}/v1/platforms",
        json={"platform_id": DEV_PLATFORM, "tenants": [DEV_TENANT]},
        headers={"Authorization": f"Bearer {env['QBB_ADMIN_API_KEY']}"},
        timeout=20,
    )
    if answer.status_code == 201:
        RUN_DIR.mkdir(exist_ok=True)
        DEV_PLATFORM_FILE.write_text(answer.text)
        DEV_PLATFORM_FILE.chmod(0o600)
    elif answer.status_code != 409:
        print(
            f"make run: registering the development platform failed "
            f"({answer.status_code}: {answer.text[:200]}); "
            "is the RabbitMQ management plugin enabled (`rabbitmq-plugins enable rabbitmq_management`)?",
            flush=True,
        )
        return None
    if not DEV_PLATFORM_FILE.exists():
        return None
    found: dict[str, Any] = json.loads(DEV_PLATFORM_FILE.read_text())
    return found


def print_platform(platform: dict[str, Any] | None) -> None:
    if platform is None:
        print(
            f"  platform  {DEV_PLATFORM} is registered; its credentials are not in {DEV_PLATFORM_FILE}",
            flush=True,
        )
        return
    amqp = platform["amqp"]
    print(
        f"development platform {platform['platform_id']} "
        f"(tenant {DEV_TENANT}; kept in {DEV_PLATFORM_FILE}):\n"
        f"  api key   {platform['api_key']}\n"
        f"  amqp      {amqp['url']}\n"
        f"  publish   exchange {amqp['ingress_exchange']}, "
        f"routing key {amqp['routing_key_prefix']}<event type>\n"
        f"  consume   exchange {amqp['egress_exchange']}, queues named {amqp['queue_prefix']}…, "
        f"bound to {amqp['routing_key_prefix']}<tenant>.<event type>",
        flush=True,
    )


def supervise(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    """Wait for Ctrl-C or a child's death, then stop every child with SIGTERM."""
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    while not stop and all(p.poll() is None for p in processes.values()):
        time.sleep(0.5)
    for name, process in processes.items():
        if process.poll() is not None and not stop:
            print(f"{name} exited with {process.returncode}; see .run/{name}.log", flush=True)
        process.send_signal(signal.SIGTERM)
    for process in processes.values():
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


if __name__ == "__main__":
    main()
