"""A RabbitMQ node and a Postgres cluster of ``make chaos``'s own, so it may restart, terminate and
alarm them: the machine's shared broker and database are never touched.

Both live under one temporary directory on ports away from the dev stack, and are stopped and
deleted by ``stop`` (``make chaos`` calls it in a ``finally``, so Ctrl-C cleans up too).
"""

from __future__ import annotations

import asyncio
import glob
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")
NODE = "qbbchaos@localhost"


def _as_postgres(args: list[str]) -> list[str]:
    """initdb and pg_ctl refuse to run as root: run them as the ``postgres`` user then."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    if path := shutil.which(name):
        return path
    raise SystemExit(f"make chaos: {name} not found (install the PostgreSQL server package)")


@dataclass
class OwnInfra:
    """The chaos run's broker node and database cluster."""

    amqp_port: int = 5673
    dist_port: int = 25673
    management_port: int = 15673
    pg_port: int = 5433
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="qbbchaos-")))
    _broker: subprocess.Popen[bytes] | None = None

    @property
    def amqp_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/"

    @property
    def management_url(self) -> str:
        return f"http://127.0.0.1:{self.management_port}"

    @property
    def database_server_url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.pg_port}/postgres"

    # --- RabbitMQ ---------------------------------------------------------------------------

    def _rabbit_env(self) -> dict[str, str]:
        base = self.root / "rabbitmq"
        return {
            **os.environ,
            "HOME": str(base),  # its own Erlang cookie, not the shared node's
            "RABBITMQ_NODENAME": NODE,
            "RABBITMQ_NODE_PORT": str(self.amqp_port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(base / "pid"),
        }

    def rabbitmqctl(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(
            [str(RABBITMQ_BIN / "rabbitmqctl"), "-n", NODE, *args],
            env=self._rabbit_env(),
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {done.stderr.strip()[:300]}")
        return done.stdout

    def start_broker(self) -> None:
        base = self.root / "rabbitmq"
        (base / "mnesia").mkdir(parents=True, exist_ok=True)
        (base / "log").mkdir(exist_ok=True)
        (base / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = {self.amqp_port}\n"
            f"management.tcp.port = {self.management_port}\n"
            "management.tcp.ip = 127.0.0.1\n"
        )
        (base / "enabled_plugins").write_text("[rabbitmq_management].\n")
        cookie = base / ".erlang.cookie"
        if not cookie.exists():  # written before the node and the CLI start, so both read the same one
            cookie.write_text(secrets.token_hex(20))
            cookie.chmod(0o400)
        with (base / "server.out").open("ab") as out:
            self._broker = subprocess.Popen(
                [str(RABBITMQ_BIN / "rabbitmq-server")],
                env=self._rabbit_env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._until_booted()
        self._until_management()

    def _until_booted(self) -> None:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self._broker is not None and self._broker.poll() is not None:
                raise RuntimeError(f"the chaos broker exited; see {self.root / 'rabbitmq' / 'server.out'}")
            try:
                self.rabbitmqctl("await_startup", "--timeout", "30")
                return
            except (RuntimeError, subprocess.TimeoutExpired):
                time.sleep(1)  # not registered with epmd yet
        raise RuntimeError("the chaos broker did not boot in 180 s")

    def _until_management(self) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(
                    f"{self.management_url}/api/overview", auth=("guest", "guest"), timeout=5
                ).is_success:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise RuntimeError("the chaos broker's management API did not answer in 120 s")

    def stop_broker(self) -> None:
        if self._broker is None:
            return
        self.rabbitmqctl("stop", check=False)
        try:
            self._broker.wait(60)
        except subprocess.TimeoutExpired:
            self._broker.kill()
            self._broker.wait(10)
        self._broker = None

    def restart_broker(self) -> None:
        """A full stop and start of the node (every connection drops; durable queues survive)."""
        self.stop_broker()
        self.start_broker()

    def memory_alarm(self, *, on: bool) -> None:
        """Raise (a tiny watermark) or clear the broker's memory alarm: publishers are blocked."""
        self.rabbitmqctl("set_vm_memory_high_watermark", "0.00001" if on else "0.4")

    # --- Postgres ---------------------------------------------------------------------------

    @property
    def _pgdata(self) -> Path:
        return self.root / "pgdata"

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(
            _as_postgres(
                [_pg_bin("pg_ctl"), "-D", str(self._pgdata), "-l", str(self.root / "pg.log"), *args]
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start_postgres(self) -> None:
        if not self._pgdata.exists():
            if os.geteuid() == 0:
                shutil.chown(self.root, user="postgres")
            subprocess.run(
                _as_postgres(
                    [
                        _pg_bin("initdb"),
                        "-D",
                        str(self._pgdata),
                        "-A",
                        "trust",
                        "-U",
                        "postgres",
                        "-E",
                        "UTF8",
                        "--no-sync",
                    ]
                ),
                check=True,
                capture_output=True,
                timeout=120,
            )
        listen = f"-p {self.pg_port} -k {self.root} -c listen_addresses=127.0.0.1"
        options = f"{listen} -c fsync=off -c max_connections=200"
        self._pg_ctl("-o", options, "-w", "start")

    def restart_postgres(self) -> None:
        """A fast shutdown and start: every connection is cut, committed work stays."""
        self._pg_ctl("-m", "fast", "-w", "restart")

    async def terminate_backends(self, database: str) -> int:
        """``pg_terminate_backend`` on every other connection to ``database``; how many were cut."""
        conn = await asyncpg.connect(
            host="127.0.0.1", port=self.pg_port, user="postgres", database="postgres"
        )
        try:
            rows = await conn.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = $1 AND pid <> pg_backend_pid()",
                database,
            )
            return sum(1 for r in rows if r[0])
        finally:
            await conn.close()

    def stop_postgres(self) -> None:
        if (self._pgdata / "postmaster.pid").exists():
            self._pg_ctl("-m", "immediate", "-w", "stop")

    # --- both -------------------------------------------------------------------------------

    def start(self) -> None:
        self.start_postgres()
        self.start_broker()

    def stop(self) -> None:
        """Stop both and delete their files (also after a failed or interrupted run)."""
        for step in (self.stop_broker, self.stop_postgres):
            try:
                step()
            except Exception as exc:
                print(f"make chaos: cleanup: {exc}", flush=True)
        shutil.rmtree(self.root, ignore_errors=True)


async def wait_port(host: str, port: int, *, timeout: float) -> None:
    """Until something accepts TCP connections on ``host:port``."""
    async with asyncio.timeout(timeout):
        while True:
            try:
                _, writer = await asyncio.open_connection(host, port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.3)
