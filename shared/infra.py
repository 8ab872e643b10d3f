"""Finding the Postgres and RabbitMQ a local run or test session uses, or saying what is missing.

Order: ``QBB_DATABASE_URL`` / ``QBB_AMQP_URL`` when set; else the local servers on 127.0.0.1;
else (the caller's choice) a Docker engine. Never a stand-in.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from shared.settings import DEFAULT_AMQP_URL, DEFAULT_DATABASE_URL

START_POSTGRES = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
START_RABBITMQ = "rabbitmq-server -detached"


@dataclass(frozen=True, slots=True)
class Found:
    """A server URL and where it came from ("environment", "local")."""

    url: str
    origin: str


def answers(url: str, *, timeout: float = 1.0) -> bool:
    """True when something accepts TCP connections at ``url``'s host and port."""
    parts = urlsplit(url.replace("+asyncpg", ""))
    default_port = 5432 if parts.scheme.startswith("postgres") else 5672
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout):
            return True
    except OSError:
        return False


def docker_engine_answers() -> bool:
    """True when a Docker engine (not just the client) is reachable."""
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=3).ping()
    except Exception:  # noqa: BLE001 - no engine, whatever the reason
        return False
    return True


def find_database() -> Found | None:
    """The database to use, or None when neither the environment nor 127.0.0.1:5432 has one."""
    return _find("QBB_DATABASE_URL", DEFAULT_DATABASE_URL)


def find_broker() -> Found | None:
    """The broker to use, or None when neither the environment nor 127.0.0.1:5672 has one."""
    return _find("QBB_AMQP_URL", DEFAULT_AMQP_URL)


def _find(variable: str, local: str) -> Found | None:
    if url := os.environ.get(variable):
        return Found(url, "environment")
    return Found(local, "local") if answers(local) else None


def missing_message(what: str) -> str:
    """One line saying exactly what is missing and how to get it."""
    if what == "database":
        return (
            "PostgreSQL is not reachable: set QBB_DATABASE_URL, or start the local server "
            f"(`{START_POSTGRES}`), or run a Docker engine so one can be started"
        )
    return (
        "RabbitMQ is not reachable: set QBB_AMQP_URL, or start the local server "
        f"(`{START_RABBITMQ}`), or run a Docker engine so one can be started"
    )
