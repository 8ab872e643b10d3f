"""``make run``: the local stack — database and broker found (or started), migrations, the sandbox
with the development app registered, the four services, each answering ``/readyz``, and the console.

Settings already in the environment (``QBB_*``) override the development defaults below. A child
that dies is started again after a short backoff (1 s, doubling to 30 s; back to 1 s once it has
run a minute), with a line saying which and its exit code — from the moment it is started, so also
while the others, the console or the development platform are still starting (a supervisor
thread). ``--base-port`` moves the whole stack (sandbox on it, the services on the next four) so a
second stack can run beside the first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from shared.db import asyncpg_dsn, migrate
from shared.infra import Found, answers, docker_engine_answers, find_broker, find_database, missing_message

ROOT = Path(__file__).resolve().parents[1]
RUN_DIR = ROOT / ".run"
SERVICE_NAMES = ("auth", "mapper", "exporter", "webhooks")
DEV_CLIENT_ID = "qbo-bridge-dev"
DEV_PLATFORM = "dev-platform"
DEV_TENANT = "dev-tenant"
DEV_PLATFORM_FILE = RUN_DIR / "dev-platform.json"
RESTART_BACKOFF = (1.0, 30.0)  # first delay, longest delay
STABLE_SECONDS = 60.0  # a child up this long starts its backoff again from the first delay
READY_TIMEOUT = 120.0  # per service; a loaded machine migrates and starts slowly


@dataclass(frozen=True)
class Ports:
    """Where the stack listens: the sandbox on ``sandbox``, the services on the next four ports."""

    sandbox: int = 8090

    @property
    def services(self) -> dict[str, int]:
        return {name: self.sandbox + 1 + i for i, name in enumerate(SERVICE_NAMES)}

    @property
    def console(self) -> int:
        return self.sandbox + 1 + len(SERVICE_NAMES)


def dev_defaults(ports: Ports) -> dict[str, str]:
    """The development settings of a stack on ``ports``."""
    sandbox, auth = f"http://127.0.0.1:{ports.sandbox}", f"http://127.0.0.1:{ports.services['auth']}"
    return {
        "QBB_ENVIRONMENT": "development",
        "QBB_INTUIT_CLIENT_ID": DEV_CLIENT_ID,
        "QBB_INTUIT_CLIENT_SECRET": "dev-client-secret-for-the-sandbox",
        "QBB_WEBHOOK_VERIFIER_TOKEN": "dev-webhook-verifier-token",
        "QBB_ADMIN_API_KEY": "dev-admin-key",
        "QBB_INTERNAL_TOKEN": "dev-internal-token",
        "QBB_INTUIT_DISCOVERY_URL": f"{sandbox}/.well-known/openid_sandbox_configuration",
        "QBB_QBO_API_BASE": sandbox,
        "QBB_AUTH_INTERNAL_URL": auth,
        "QBB_EXPORTER_INTERNAL_URL": f"http://127.0.0.1:{ports.services['exporter']}",
        "QBB_PUBLIC_BASE_URL": auth,
    }


DEFAULT_PORTS = Ports()
SERVICES = DEFAULT_PORTS.services
SANDBOX_PORT = DEFAULT_PORTS.sandbox
CONSOLE_PORT = DEFAULT_PORTS.console
DEV_DEFAULTS = dev_defaults(DEFAULT_PORTS)


@dataclass(frozen=True)
class Launch:
    """How a child was started, so that it can be started again."""

    args: list[str]
    env: dict[str, str]
    ports: Ports = field(default=DEFAULT_PORTS)


# name → how it was started (filled by ``start``; read by ``supervise`` to restart a child).
LAUNCHES: dict[str, Launch] = {}


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
    for name in SERVICE_NAMES:
        await migrate(migrations_dir=ROOT / "services" / name / "migrations", database_url=url, schema=name)


def start(
    name: str, args: list[str], env: dict[str, str], ports: Ports = DEFAULT_PORTS
) -> subprocess.Popen[bytes]:
    """A child process whose output goes to ``.run/<name>.log``."""
    RUN_DIR.mkdir(exist_ok=True)
    LAUNCHES[name] = Launch(args, env, ports)
    with (RUN_DIR / f"{name}.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )


def wait_until(
    url: str,
    *,
    timeout: float,
    process: subprocess.Popen[bytes] | Callable[[], subprocess.Popen[bytes]],
    name: str,
) -> None:
    """Wait until ``url`` answers 200, or stop saying which process failed and where its log is.

    ``process`` may be a callable giving a supervised child's current process: then only an exit
    with a status of its own (a setting, a busy port: starting it again would fail again) stops the
    wait; one killed by a signal is being started again by the supervisor, and is waited for."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        child = process() if callable(process) else process
        code = child.poll()
        if code is not None and (not callable(process) or code >= 0):
            sys.exit(f"make run: {name} exited with {code}; see .run/{name}.log")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    sys.exit(f"make run: {name} not ready at {url} after {timeout:.0f} s; see .run/{name}.log")


def register_dev_app(env: dict[str, str], ports: Ports = DEFAULT_PORTS) -> None:
    """The development app in the sandbox: redirect to auth, webhooks to the webhooks service."""
    body = {
        "client_id": env["QBB_INTUIT_CLIENT_ID"],
        "client_secret": env["QBB_INTUIT_CLIENT_SECRET"],
        "redirect_uris": [f"{env['QBB_PUBLIC_BASE_URL']}/v1/oauth/callback"],
        "webhook_url": f"http://127.0.0.1:{ports.services['webhooks']}/v1/webhooks/qbo",
        "webhook_verifier_token": env["QBB_WEBHOOK_VERIFIER_TOKEN"],
        "webhook_format": "cloudevents",
    }
    httpx.post(f"http://127.0.0.1:{ports.sandbox}/admin/apps", json=body, timeout=10).raise_for_status()


def busy_ports(ports: Ports = DEFAULT_PORTS) -> list[int]:
    every = (ports.sandbox, *ports.services.values(), ports.console)
    return [p for p in every if answers(f"http://127.0.0.1:{p}")]


def main() -> None:
    parser = argparse.ArgumentParser(prog="make run")
    parser.add_argument("--migrate-only", action="store_true")
    parser.add_argument(
        "--base-port", type=int, default=DEFAULT_PORTS.sandbox, help="sandbox port; services +1..+4"
    )
    args = parser.parse_args()
    ports = Ports(args.base_port)
    infra = find_infra()
    asyncio.run(ensure_database(infra.database.url))
    asyncio.run(migrate_all(infra.database.url))
    if args.migrate_only:
        print(f"migrated: {', '.join(SERVICE_NAMES)} ({infra.database.origin} database)")
        return
    if busy := busy_ports(ports):
        sys.exit(f"make run: ports {busy} are already in use; stop what runs there (an earlier `make run`?)")
    env = {
        **dev_defaults(ports),
        **os.environ,
        "QBB_DATABASE_URL": infra.database.url,
        "QBB_AMQP_URL": infra.broker.url,
    }
    # SIGTERM while starting stops what has started, as Ctrl-C does (it killed only this process,
    # leaving the children running with nobody to stop or restart them).
    signal.signal(signal.SIGTERM, _interrupt)
    supervisor = Supervisor()
    try:
        run_stack(env, ports, supervisor)
        try:
            print_urls(ports)
            print_platform(register_dev_platform(env, ports))
        except BaseException:
            supervisor.stop_all()
            raise
    except KeyboardInterrupt:
        print("make run: stopped while starting", flush=True)
        return
    supervise(supervisor)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def run_stack(
    env: dict[str, str], ports: Ports = DEFAULT_PORTS, supervisor: Supervisor | None = None
) -> dict[str, subprocess.Popen[bytes]]:
    """The sandbox and the four services, each answering, then the console; if one fails, the
    others are stopped. With ``supervisor``, each child is supervised from the moment it starts
    (the dict returned is the supervisor's, kept current as children are started again)."""
    processes: dict[str, subprocess.Popen[bytes]] = {} if supervisor is None else supervisor.processes

    def started(name: str, process: subprocess.Popen[bytes]) -> None:
        if supervisor is None:
            processes[name] = process
        else:
            supervisor.watch(name, process)

    def current(name: str) -> subprocess.Popen[bytes] | Callable[[], subprocess.Popen[bytes]]:
        return processes[name] if supervisor is None else (lambda: supervisor.processes[name])

    try:
        started("sandbox", start_sandbox(env, ports))
        for name, port in ports.services.items():
            service_env = {**env, "QBB_HTTP_PORT": str(port)}
            started(name, start(name, ["-m", f"services.{name}"], service_env, ports))
        for name, port in ports.services.items():
            wait_until(
                f"http://127.0.0.1:{port}/readyz", timeout=READY_TIMEOUT, process=current(name), name=name
            )
        started("console", start_console(env, ports))
        wait_until(
            f"http://127.0.0.1:{ports.console}/readyz",
            timeout=READY_TIMEOUT,
            process=current("console"),
            name="console",
        )
    except BaseException:
        if supervisor is None:
            stop_all(processes)
        else:
            supervisor.stop_all()
        raise
    return processes


def start_console(env: dict[str, str], ports: Ports = DEFAULT_PORTS) -> subprocess.Popen[bytes]:
    """The console (started once the services it calls answer; its URL settings default to their
    ports); the caller waits for it to answer."""
    urls = {f"QBB_{name.upper()}_URL": f"http://127.0.0.1:{port}" for name, port in ports.services.items()}
    sandbox = {"QBB_SANDBOX_URL": f"http://127.0.0.1:{ports.sandbox}"}
    console_env = {**urls, **sandbox, **env, "QBB_HTTP_PORT": str(ports.console)}
    return start("console", ["-m", "services.console"], console_env, ports)


def start_sandbox(env: dict[str, str], ports: Ports) -> subprocess.Popen[bytes]:
    """The sandbox, answering, with the development app registered (again, after a restart)."""
    args = ["-m", "sandbox", "--host", "127.0.0.1", "--port", str(ports.sandbox)]
    sandbox = start("sandbox", args, env, ports)
    try:
        wait_until(
            f"http://127.0.0.1:{ports.sandbox}/.well-known/openid_sandbox_configuration",
            timeout=30,
            process=sandbox,
            name="sandbox",
        )
        register_dev_app(env, ports)
    except BaseException:
        sandbox.kill()
        raise
    return sandbox


def print_urls(ports: Ports = DEFAULT_PORTS) -> None:
    lines = [f"  sandbox   http://127.0.0.1:{ports.sandbox}/   (QuickBooks Online emulator; its HTML view)"]
    lines += [f"  {name:<9} http://127.0.0.1:{port}/docs" for name, port in ports.services.items()]
    lines += [f"  console   http://127.0.0.1:{ports.console}/   (sign in with an API key or the admin key)"]
    print("qbo-bridge is running (logs in .run/, Ctrl-C stops it):\n" + "\n".join(lines), flush=True)


def register_dev_platform(env: dict[str, str], ports: Ports = DEFAULT_PORTS) -> dict[str, Any] | None:
    """The development platform (tenant ``dev-tenant``), registered once; its credentials are shown
    once by auth, so they are kept in ``.run/dev-platform.json`` for the next ``make run``."""
    try:
        answer = httpx.post(
            f"http://127.0.0.1:{ports.services['auth']}/v1/platforms",
            json={"platform_id": DEV_PLATFORM, "tenants": [DEV_TENANT]},
            headers={"Authorization": f"Bearer {env['QBB_ADMIN_API_KEY']}"},
            timeout=20,
        )
    except httpx.TransportError as exc:
        # Auth died or restarted meanwhile: the stack runs on (supervised) without the platform;
        # raising here once left every child running with nobody to stop it.
        print(f"make run: auth did not answer the development platform's registration ({exc!r})", flush=True)
        return None
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


class Supervisor:
    """The children by name, and a thread that starts again any that dies (after a backoff), from
    the moment it is handed over (``watch``) until ``stop``."""

    def __init__(self) -> None:
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._restarts = _Restarts()
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, name="make-run-supervisor", daemon=True)
        self._thread.start()

    def watch(self, name: str, process: subprocess.Popen[bytes]) -> None:
        self.processes[name] = process

    def _run(self) -> None:
        while not self._halt.wait(0.2):
            for name in list(self.processes):
                # Assigned even when halting meanwhile: ``stop_all`` then stops the new one too.
                self.processes[name] = self._restarts.check(name, self.processes[name])
                if self._halt.is_set():
                    return

    def stop(self) -> None:
        """No more restarts (waits for one under way)."""
        self._halt.set()
        self._thread.join()

    def stop_all(self) -> None:
        self.stop()
        stop_all(self.processes)


def supervise(supervisor: Supervisor) -> None:
    """Until Ctrl-C or SIGTERM, with ``supervisor`` restarting what dies; then stop them all."""
    stop = threading.Event()

    def _stop(*_: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    while not stop.wait(0.2):
        pass
    supervisor.stop_all()


def stop_all(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    """SIGTERM every child still running; SIGKILL one that has not exited 15 s later."""
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes.values():
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


@dataclass
class _Restarts:
    """Per child: when it started, its next backoff, and when a dead one is due to start again."""

    started: dict[str, float] = field(default_factory=dict)
    delay: dict[str, float] = field(default_factory=dict)
    due: dict[str, float] = field(default_factory=dict)

    def check(self, name: str, process: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
        now = time.monotonic()
        self.started.setdefault(name, now)
        if name in self.due:
            return self._restart(name, process) if now >= self.due[name] else process
        code = process.poll()
        if code is None:
            if now - self.started[name] >= STABLE_SECONDS:
                self.delay.pop(name, None)
            return process
        first, longest = RESTART_BACKOFF
        delay = min(longest, self.delay[name] * 2) if name in self.delay else first
        self.delay[name], self.due[name] = delay, now + delay
        print(f"{name} exited with {code}; restarting in {delay:.0f} s (see .run/{name}.log)", flush=True)
        return process

    def _restart(self, name: str, old: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
        launch = LAUNCHES[name]
        del self.due[name]
        self.started[name] = time.monotonic()
        try:
            if name == "sandbox":  # its state starts empty; the development app is registered again
                process = start_sandbox(launch.env, launch.ports)
            else:
                process = start(name, launch.args, launch.env, launch.ports)
        except (SystemExit, OSError, httpx.HTTPError) as exc:
            print(f"{name} could not be started again ({exc}); trying later", flush=True)
            self.due[name] = time.monotonic() + self.delay.get(name, RESTART_BACKOFF[0])
            return old
        print(f"{name} restarted (pid {process.pid})", flush=True)
        return process


if __name__ == "__main__":
    main()
