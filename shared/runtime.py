"""Running a service: wait for the database, migrate, declare queues, consume, relay, serve HTTP.

One process per service. SIGTERM or SIGINT: stop taking messages, finish in-flight ones, stop
HTTP, flush the outbox, exit 0 — within ``shutdown_grace_seconds`` plus a margin.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import aio_pika
import uvicorn
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import MetaData, Table
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from shared import crashpoints, tracing
from shared.contracts.codec import Limits
from shared.db import create_engine, create_sessionmaker, migrate, wait_for_database
from shared.http import BodyLimit, Resources, ops_router
from shared.logging import configure_logging
from shared.messaging import deadletters
from shared.messaging.consumer import Consumer
from shared.messaging.gauges import Sampler
from shared.messaging.outbox import OutboxRelay
from shared.messaging.router import Router
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)
KEEP_ALIVE_SECONDS = 30
GC_YOUNG_THRESHOLD = 10_000  # allocations between young collections (Python's default: 700)

AppPart = Literal["all", "public", "private"]


@dataclass(frozen=True)
class ServiceDefinition:
    """Everything that makes one service what it is; the runtime does the rest the same way."""

    name: str
    description: str
    schema: str
    metadata: MetaData
    migrations_dir: Path
    inbox: Table
    outbox: Table
    router: Router = field(default_factory=Router)
    routes: APIRouter = field(default_factory=APIRouter)
    # Admin and internal routes: on the main port too, unless ``private_http_port`` is set, when
    # they are served there only (so only the operator's network reaches them).
    private_routes: APIRouter = field(default_factory=APIRouter)
    make_deps: Callable[[Resources], Any] = lambda _res: None
    # Other schemas this service needs, migrated before its own: (migrations dir, schema).
    extra_migrations: tuple[tuple[Path, str], ...] = ()
    # Extra command-line commands: name → coroutine taking the settings (e.g. "reencrypt-tokens").
    commands: dict[str, Callable[[Any], Coroutine[Any, Any, None]]] = field(default_factory=dict)
    # Long-running work beside the consumers (e.g. refreshing tokens ahead of expiry): called with
    # the resources and the ``make_deps`` object; cancelled at shutdown; handles its own errors.
    background: tuple[Callable[[Resources, Any], Coroutine[Any, Any, None]], ...] = ()
    # Request-body limits of routes that take more (or less) than ``max_body_bytes``: path prefix → bytes.
    body_limits: Callable[[Any], Mapping[str, int]] = lambda _settings: {}


def create_app(
    definition: ServiceDefinition, res: Resources, deps: Any = None, *, part: AppPart = "all"
) -> FastAPI:
    """The service's FastAPI app: its routes (``part``: all, the public ones, or the private ones)
    plus health, readiness and metrics, bodies limited.

    ``deps`` (the ``make_deps`` object) is reachable from routes as ``request.app.state.deps``.
    """
    app = FastAPI(title=f"qbo-bridge {definition.name}", description=definition.description)
    app.state.resources = res
    app.state.deps = deps
    app.include_router(ops_router)
    if part in ("all", "public"):
        app.include_router(definition.routes)
    if part in ("all", "private"):
        app.include_router(definition.private_routes)
        # Every service's dead-letter queues, listed and replayed the same way (admin key).
        app.include_router(
            deadletters.routes(definition.router, definition.outbox, namespace=res.settings.amqp_namespace)
        )
    app.add_middleware(
        BodyLimit, max_bytes=res.settings.max_body_bytes, overrides=definition.body_limits(res.settings)
    )
    app.add_exception_handler(DBAPIError, _database_unavailable)
    return app


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """A request whose database connection was cut (a Postgres restart, a terminated backend) or
    could not be opened gets 503 with ``Retry-After``, not 500: the same request succeeds once the
    pool has a new connection (found by ``make chaos``). Any other database error stays a 500."""
    lost = isinstance(exc, OperationalError | InterfaceError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )
    if not lost:
        raise exc
    log.warning(
        "database unavailable during a request; answered 503",
        extra={
            "path": request.url.path,
            "error": str(exc.orig if isinstance(exc, DBAPIError) else exc)[:300],
        },
    )
    return JSONResponse(
        {"detail": "the database is unavailable; retry later"}, status_code=503, headers={"Retry-After": "1"}
    )


def _servers(
    definition: ServiceDefinition, settings: ServiceSettings, res: Resources, deps: Any
) -> list[_Server]:
    """One HTTP server, or two when the private routes have a port of their own."""

    def server(app: FastAPI, host: str, port: int) -> _Server:
        # Keep-alive longer than clients keep idle connections (httpx: 5 s): with equal timeouts a
        # client can reuse a connection just as the server closes it, and the request is lost.
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
        )
        return _Server(config)

    if not settings.private_http_port:
        return [server(create_app(definition, res, deps), settings.http_host, settings.http_port)]
    return [
        server(create_app(definition, res, deps, part="public"), settings.http_host, settings.http_port),
        server(
            create_app(definition, res, deps, part="private"),
            settings.private_http_host,
            settings.private_http_port,
        ),
    ]


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The runtime owns SIGTERM: it must stop consumers before HTTP and flush the outbox last.
        yield


async def _connect_broker(url: str, *, name: str) -> aio_pika.RobustConnection:
    """A robust connection to the broker; if connecting is cancelled (SIGTERM during start-up), its
    reconnect loop is closed too — aio-pika's would otherwise outlive the cancellation and hang exit."""
    connection = aio_pika.RobustConnection(
        aio_pika.connection.make_url(url), client_properties={"connection_name": name}
    )
    try:
        await connection.connect()
    except BaseException:
        with contextlib.suppress(Exception):
            await asyncio.shield(connection.close())
        raise
    return connection


async def serve(
    definition: ServiceDefinition,
    settings: ServiceSettings,
    *,
    stop: asyncio.Event,
    ready: asyncio.Event | None = None,
    connected: asyncio.Event | None = None,
) -> None:
    """Run the service until ``stop`` is set, then shut down in order; ``ready`` is set once consuming."""
    crashpoints.configure(settings.crash_points)
    engine = create_engine(
        settings.database_url,
        application_name=f"qbb-{definition.name}",
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )
    await wait_for_database(engine)
    await migrate_service(definition, settings.database_url)
    connection = await _connect_broker(settings.amqp_url, name=f"qbb-{definition.name}")
    res = Resources(settings, engine, create_sessionmaker(engine), connection)
    deps = definition.make_deps(res)
    consumer = Consumer(
        connection=connection,
        router=definition.router,
        sessionmaker=res.sessionmaker,
        inbox_table=definition.inbox,
        outbox_table=definition.outbox,
        deps=deps,
        namespace=settings.amqp_namespace,
        prefetch=settings.prefetch,
        limits=Limits(max_bytes=settings.max_message_bytes),
        batch_size=settings.consume_batch_size,
    )
    relay = OutboxRelay(
        sessionmaker=res.sessionmaker,
        connection=connection,
        table=definition.outbox,
        database_url=settings.database_url,
        namespace=settings.amqp_namespace,
        max_message_bytes=settings.max_message_bytes,
        publish_timeout=settings.publish_timeout_seconds,
        max_failures=settings.outbox_max_publish_failures,
        history_queues=definition.router.history_queues(),
    )
    servers = _servers(definition, settings, res, deps)
    if connected is not None:
        connected.set()  # from here on a stop drains in order (consuming may start any moment)
    try:
        await consumer.start()
        relay_task = asyncio.create_task(relay.run(), name="outbox-relay")
        http_tasks = [asyncio.create_task(server.serve(), name="http") for server in servers]
        background = [asyncio.create_task(job(res, deps), name="background") for job in definition.background]
        background.append(asyncio.create_task(_sampler(definition, res).run(), name="gauges"))
        for server, http_task in zip(servers, http_tasks, strict=True):
            await _until_listening(server, http_task)
        log.info(
            "service started", extra={"port": settings.http_port, "private_port": settings.private_http_port}
        )
        if ready is not None:
            ready.set()
        await _until_stopped(stop, relay_task, *http_tasks)
        # Stop taking messages first: nothing new starts while background work winds down.
        await consumer.stop(grace=settings.shutdown_grace_seconds)
        await _cancel(background)
        for server in servers:
            server.should_exit = True
        relay.stop()
        async with asyncio.timeout(5):
            await asyncio.gather(*http_tasks, relay_task, return_exceptions=True)
    finally:
        await connection.close()
        # Deps first: what they give back on closing (the limiter's leases) goes through the engine.
        if hasattr(deps, "aclose"):
            await deps.aclose()
        await engine.dispose()
    log.info("service stopped")


def _sampler(definition: ServiceDefinition, res: Resources) -> Sampler:
    """Queue depth, dead-letter depth and outbox lag as gauges at ``/metrics``."""
    return Sampler(
        connection=res.connection,
        router=definition.router,
        sessionmaker=res.sessionmaker,
        outbox_table=definition.outbox,
        namespace=res.settings.amqp_namespace,
    )


async def _until_listening(server: uvicorn.Server, http_task: asyncio.Task[None]) -> None:
    """Wait until uvicorn has bound its port, so "ready" means the HTTP API answers too."""
    async with asyncio.timeout(30):
        while not server.started:
            if http_task.done():
                http_task.result()  # a bind failure (port in use) surfaces here
                raise RuntimeError("HTTP server stopped before it started")
            await asyncio.sleep(0.01)


async def _cancel(tasks: list[asyncio.Task[None]], *, grace: float = 3.0) -> None:
    """Cancel background work and wait for it, but never for ever: a task that swallows its
    cancellation (a broker call mid-reconnect, say) must not keep the process from exiting."""
    if not tasks:
        return
    deadline = asyncio.get_running_loop().time() + grace
    stuck = set(tasks)
    # Cancelled again while it runs: a cancel can be lost (a wake-up in the same turn, a library
    # that catches it), and a loop that outlives its service works on with closed clients.
    while stuck and (left := deadline - asyncio.get_running_loop().time()) > 0:
        for task in stuck:
            task.cancel()
        _, stuck = await asyncio.wait(stuck, timeout=min(left, 0.1))
    if stuck:
        log.warning("background tasks did not stop in time", extra={"tasks": [t.get_name() for t in stuck]})


async def _until_stopped(stop: asyncio.Event, *tasks: asyncio.Task[Any]) -> None:
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({waiter, *tasks}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    for task in done - {waiter}:
        task.result()  # a crashed task ends the service loudly instead of limping on
        raise RuntimeError(f"{task.get_name()} stopped unexpectedly")


async def migrate_service(definition: ServiceDefinition, database_url: str) -> None:
    """The schemas the service needs, then its own, each up to its newest migration."""
    for migrations_dir, schema in definition.extra_migrations:
        await migrate(migrations_dir=migrations_dir, database_url=database_url, schema=schema)
    await migrate(
        migrations_dir=definition.migrations_dir, database_url=database_url, schema=definition.schema
    )


def main(definition: ServiceDefinition, settings_factory: Callable[[], ServiceSettings]) -> None:
    """Command line of every service: ``serve`` (default), ``migrate``, or one of its own commands."""
    parser = argparse.ArgumentParser(prog=f"python -m services.{definition.name}")
    parser.add_argument(
        "command", nargs="?", default="serve", choices=["serve", "migrate", *definition.commands]
    )
    args = parser.parse_args()
    settings = settings_factory()
    configure_logging(settings.service_name, settings.log_level)
    tracing.configure(settings)  # exports spans only when QBB_OTEL_ENABLED
    if args.command == "migrate":
        asyncio.run(migrate_service(definition, settings.database_url))
        return
    if args.command in definition.commands:
        asyncio.run(definition.commands[args.command](settings))
        return
    asyncio.run(_serve_until_signalled(definition, settings))
    sys.exit(0)


async def _serve_until_signalled(definition: ServiceDefinition, settings: ServiceSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    connected = asyncio.Event()
    serving = asyncio.create_task(serve(definition, settings, stop=stop, connected=connected), name="serve")
    waits = [asyncio.create_task(event.wait()) for event in (stop, connected)]
    await asyncio.wait([serving, *waits], return_when=asyncio.FIRST_COMPLETED)
    for wait in waits:
        wait.cancel()
    if stop.is_set() and not connected.is_set():
        # Stopped while still connecting (to the database, the broker; a migration lock): nothing
        # has been taken yet, so there is nothing to drain — stop now rather than hang.
        log.info("stopped while starting")
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        return
    if connected.is_set():
        _settle_the_heap()
    await serving


def _settle_the_heap() -> None:
    """What is built by the time the service is connected (modules, settings, the database pool,
    the broker connection) lives as long as the process: frozen out of the cyclic collector's
    sight, so the full collections under load no longer walk it; and young collections run every
    GC_YOUNG_THRESHOLD allocations rather than 700, most of a message's objects being freed by
    their reference counts before that (measured under load: the mapper spent 13 % of its CPU in
    the collector, the exporter 9 %)."""
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    gc.freeze()
