"""The consumer runtime: decode → inbox → handler → outbox in one transaction → ack.

Messages of one queue that are waiting together share that transaction (up to ``batch_size`` of
them, in up to ``BATCH_RUNNERS`` transactions at once per queue): one BEGIN, one inbox claim and one
COMMIT for a burst instead of one each per message; a queue with a batch handler hands the whole
burst to it at once. Each still has its own outcome: when any of a batch's handlers
fails, or its commit does, the batch is rolled back and its halves are handled again the same way,
down to single messages, so a failure is sorted for the message that caused it alone. A redelivered
message is always handled alone: it may be the one that killed a consumer.

Failures are sorted where they happen: an undecodable or invalid message goes to the dead-letter
queue at once; a ``PermanentError`` too; anything else is retried after a growing delay and goes
to the dead-letter queue after the last attempt. Every dead-lettered message carries its reason.
Anything unforeseen on the way (a bug, a broken header) dead-letters the message too (kind
``error``), so no message ever holds a prefetch slot without an outcome; a message the broker has
redelivered ``CRASH_LOOP_DELIVERIES`` times (it kept killing its consumer) is set aside before its
handler runs again (kind ``crash_loop``).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aio_pika import Message
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractIncomingMessage, AbstractRobustConnection
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared import tracing
from shared.contracts.catalogue import CATALOGUE
from shared.contracts.codec import (
    DEFAULT_LIMITS,
    InvalidMessage,
    Limits,
    Problem,
    decode_data,
    decode_envelope,
)
from shared.contracts.envelope import Envelope
from shared.crashpoints import crash_point
from shared.errors import PermanentError
from shared.logging import log_context
from shared.messaging import inbox, topology
from shared.messaging.outbox import Outbox, StagedRow, write_staged
from shared.messaging.router import Context, Router, Subscription
from shared.metrics import EVENTS_CONSUMED, EVENTS_DEAD_LETTERED, EVENTS_RETRIED, HANDLER_SECONDS

log = logging.getLogger(__name__)

ATTEMPT_HEADER = "x-qbb-attempt"
# A retry reaches the queue again through the default exchange with a new routing key; the key it
# was first published with (a platform's broker-checked prefix) travels in this header.
ROUTING_KEY_HEADER = topology.ROUTING_KEY_HEADER

DELIVERY_COUNT_HEADER = "x-delivery-count"  # set by quorum queues on redelivery

BATCH_RUNNERS = 4  # transactions of one queue's batches at once (a slow handler holds up only its own)


class Consumer:
    """Runs every subscription of a router on one channel with a prefetch window."""

    def __init__(
        self,
        *,
        connection: AbstractRobustConnection,
        router: Router,
        sessionmaker: async_sessionmaker[AsyncSession],
        inbox_table: Table,
        outbox_table: Table,
        deps: Any = None,
        namespace: str = "",
        prefetch: int = 32,
        limits: Limits = DEFAULT_LIMITS,
        batch_size: int = 16,
    ) -> None:
        self._connection, self._router, self._sessionmaker = connection, router, sessionmaker
        self._inbox, self._outbox, self._deps = inbox_table, outbox_table, deps
        self._namespace, self._prefetch, self._limits = namespace, prefetch, limits
        self._channel: AbstractChannel | None = None
        self._default_exchange: AbstractExchange | None = None
        self._tags: list[tuple[Any, str]] = []
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._batches = {
            # A batch handler's batches go one at a time, so what it records follows delivery order.
            sub.queue: _Batches(
                self._run_alone,
                self._run_together,
                batch_size,
                1 if sub.batch_handler else BATCH_RUNNERS,
                linger=sub.linger,
            )
            for sub in router.subscriptions
        }

    async def declare(self) -> None:
        """Declare every queue of the router (idempotent); a service does this at start-up."""
        channel = await self._connection.channel()
        for sub in self._router.subscriptions:
            await self._declare(channel, sub)
        await channel.close()

    async def start(self) -> None:
        """Declare the topology and start taking messages."""
        self._channel = await self._connection.channel(publisher_confirms=True)
        self._default_exchange = self._channel.default_exchange
        for sub in self._router.subscriptions:
            queue = await self._declare(self._channel, sub)
            # Per consumer (not channel-global): a queue's own window applies to the consumers after it.
            await self._channel.set_qos(prefetch_count=sub.prefetch or self._prefetch)
            tag = await queue.consume(self._callback(sub))
            self._tags.append((queue, tag))

    async def stop(self, *, grace: float = 8.0) -> None:
        """Stop taking messages, let in-flight ones finish (up to ``grace`` s), close the channel.

        Messages delivered but not yet started return to their queue when the channel closes.
        """
        for queue, tag in self._tags:
            await queue.cancel(tag)
        self._tags.clear()
        if self._in_flight:
            await asyncio.wait(self._in_flight, timeout=grace)
        if self._channel is not None and not self._channel.is_closed:
            await self._channel.close()

    async def _declare(self, channel: AbstractChannel, sub: Subscription) -> Any:
        return await topology.declare_consumer_queue(
            channel,
            queue=topology.queue_name(sub.queue, self._namespace),
            routing_keys=sub.routing_keys,
            retry_delays=sub.retry_delays,
            namespace=self._namespace,
            ingress_keys=sub.ingress_keys,
        )

    def _callback(self, sub: Subscription) -> Any:
        async def on_message(message: AbstractIncomingMessage) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._in_flight.add(task)
            try:
                await self._process(sub, message)
            except Exception as exc:  # noqa: BLE001 - every failure must end in an outcome
                await self._last_resort(sub, message, exc)
            finally:
                self._in_flight.discard(task)

        return on_message

    async def _last_resort(self, sub: Subscription, message: AbstractIncomingMessage, exc: Exception) -> None:
        """An exception outside the sorted paths: dead-letter with it; if even that fails, requeue."""
        log.error("message handling failed unexpectedly", exc_info=exc, extra={"queue": sub.queue})
        try:
            await self._dead_letter(sub, message, reason=_describe(exc), kind="error")
        except Exception:
            log.exception("dead-lettering failed; returning the message to its queue")
            try:
                await message.nack(requeue=True)
            except Exception:
                log.warning("cannot return the message; the broker redelivers it", exc_info=True)

    async def _process(self, sub: Subscription, message: AbstractIncomingMessage) -> None:
        deliveries = _delivery_count(message)
        if deliveries >= topology.CRASH_LOOP_DELIVERIES:
            reason = f"delivered {deliveries + 1} times without an outcome (it may crash its consumer)"
            await self._dead_letter(sub, message, reason=reason, kind="crash_loop", attempts=deliveries + 1)
            return
        try:
            envelope = decode_envelope(message.body, self._limits)
            attempt = _attempt(message, max_attempt=len(sub.retry_delays) + 1)
        except InvalidMessage as exc:
            await self._dead_letter(sub, message, reason=str(exc), kind=exc.kind)
            return
        if sub.takes is not None and not sub.takes(envelope):
            EVENTS_CONSUMED.labels(sub.queue, envelope.type, "passed_over").inc()
            await message.ack()
            return
        try:
            data = decode_data(envelope, self._limits)
        except InvalidMessage as exc:
            if sub.on_invalid is not None:
                await self._record_invalid(sub, envelope, exc, routing_key=_routing_key(message))
            await self._dead_letter(sub, message, reason=str(exc), kind="invalid")
            return
        with log_context(
            event_id=envelope.id,
            correlation_id=envelope.correlation_id,
            tenant_id=envelope.tenantid,
            realm_id=envelope.realmid,
            queue=sub.queue,
        ):
            work = self._handle(sub, message, envelope, data, attempt)
            await tracing.consumed(envelope, queue=sub.queue, work=work)  # a span continuing traceparent

    async def _handle(
        self, sub: Subscription, message: AbstractIncomingMessage, envelope: Envelope, data: Any, attempt: int
    ) -> None:
        started = time.perf_counter()
        try:
            outcome = await self._run_handler(sub, message, envelope, data, attempt)
        except PermanentError as exc:
            await self._give_up(sub, message, envelope, reason=f"{exc.code}: {exc.message}", attempt=attempt)
            return
        except Exception as exc:
            log.warning("handler failed", exc_info=True, extra={"attempt": attempt})
            await self._retry_or_give_up(sub, message, envelope, reason=_describe(exc), attempt=attempt)
            return
        finally:
            HANDLER_SECONDS.labels(sub.queue).observe(time.perf_counter() - started)
        EVENTS_CONSUMED.labels(sub.queue, envelope.type, outcome).inc()
        crash_point("consumer.after_commit")
        await message.ack()

    async def _run_handler(
        self, sub: Subscription, message: AbstractIncomingMessage, envelope: Envelope, data: Any, attempt: int
    ) -> str:
        """The handler's outcome ("handled" or "duplicate") once its transaction has committed."""
        unit = _Unit(sub, message, envelope, data, attempt)
        if message.redelivered:  # it may be what killed a consumer: alone, so it takes no other with it
            return await self._run_alone(unit)
        return await self._batches[sub.queue].submit(unit)

    async def _run_alone(self, unit: _Unit) -> str:
        return (await self._run_together([unit]))[0]

    async def _run_together(self, units: list[_Unit]) -> list[str]:
        """Claim the messages in the inbox (one statement) and handle the new ones, in one
        transaction; each message's outcome ("handled" or "duplicate") in order."""
        sub = units[0].sub
        async with self._sessionmaker() as session, session.begin():
            keys = [unit.envelope.dedup_key for unit in units]
            claimed = await inbox.claim_many(
                session, self._inbox, consumer=sub.inbox_consumer, message_ids=keys
            )
            fresh, seen = [], set[str]()
            for unit, key in zip(units, keys, strict=True):
                if key in claimed and key not in seen:  # a message delivered twice in one batch: once
                    fresh.append(unit)
                seen.add(key)
            staged: list[StagedRow] = []  # the batch's outbox rows, written in one statement
            if sub.batch_handler is not None:
                traces = [u.context.run(tracing.current_context) for u in fresh]
                contexts = [self._context(session, u, t, staged) for u, t in zip(fresh, traces, strict=True)]
                await sub.batch_handler([(u.data, ctx) for u, ctx in zip(fresh, contexts, strict=True)])
            else:
                for unit in fresh:
                    await self._apply(session, unit, staged)
            await write_staged(session, self._outbox, staged)
            handled = {id(u) for u in fresh}
            return ["handled" if id(u) in handled else "duplicate" for u in units]

    def _context(
        self, session: AsyncSession, unit: _Unit, trace: dict[str, str], staged: list[StagedRow]
    ) -> Context[Any]:
        envelope, message = unit.envelope, unit.message
        return Context(
            envelope,
            session,
            Outbox(session, self._outbox, cause=envelope, staged=staged),
            self._deps,
            unit.attempt,
            _routing_key(message),
            message.user_id,
            trace,
        )

    async def _apply(self, session: AsyncSession, unit: _Unit, staged: list[StagedRow]) -> None:
        """Run a claimed message's handler in the caller's transaction and in the message's own
        context (its consume span and log fields)."""
        await asyncio.create_task(self._handle_one(session, unit, staged), context=unit.context)

    async def _handle_one(self, session: AsyncSession, unit: _Unit, staged: list[StagedRow]) -> None:
        assert unit.sub.handler is not None
        await unit.sub.handler(unit.data, self._context(session, unit, tracing.current_context(), staged))

    async def _retry_or_give_up(
        self,
        sub: Subscription,
        message: AbstractIncomingMessage,
        envelope: Envelope,
        *,
        reason: str,
        attempt: int,
    ) -> None:
        if attempt > len(sub.retry_delays):
            await self._give_up(sub, message, envelope, reason=reason, attempt=attempt)
            return
        delay = sub.retry_delays[attempt - 1]
        queue = topology.queue_name(sub.queue, self._namespace)
        retry = _copy(
            message,
            headers={
                ATTEMPT_HEADER: attempt + 1,
                "x-qbb-last-error": reason[:1000],
                ROUTING_KEY_HEADER: _routing_key(message),
            },
        )
        assert self._default_exchange is not None
        # Confirmed before the ack: a crash in between duplicates the message (the inbox absorbs
        # it) but never loses it.
        await self._default_exchange.publish(retry, routing_key=topology.retry_queue_name(queue, delay))
        EVENTS_RETRIED.labels(sub.queue).inc()
        await message.ack()

    async def _give_up(
        self,
        sub: Subscription,
        message: AbstractIncomingMessage,
        envelope: Envelope,
        *,
        reason: str,
        attempt: int,
    ) -> None:
        if sub.on_give_up is not None:
            await self._record_give_up(sub, envelope, reason, attempt, routing_key=_routing_key(message))
        await self._dead_letter(sub, message, reason=reason, kind="failed", attempts=attempt)

    async def _record_give_up(
        self, sub: Subscription, envelope: Envelope, reason: str, attempt: int, *, routing_key: str
    ) -> None:
        assert sub.on_give_up is not None
        try:
            async with self._sessionmaker() as session, session.begin():
                key = f"{envelope.dedup_key}#gave-up"
                if await inbox.claim(session, self._inbox, consumer=sub.inbox_consumer, message_id=key):
                    outbox = Outbox(session, self._outbox, cause=envelope)
                    await sub.on_give_up(
                        envelope, reason, Context(envelope, session, outbox, self._deps, attempt, routing_key)
                    )
        except Exception:
            log.exception("recording the failure outcome failed")

    async def _record_invalid(
        self, sub: Subscription, envelope: Envelope, error: InvalidMessage, *, routing_key: str
    ) -> None:
        assert sub.on_invalid is not None
        try:
            async with self._sessionmaker() as session, session.begin():
                key = f"{envelope.dedup_key}#invalid"
                if await inbox.claim(session, self._inbox, consumer=sub.inbox_consumer, message_id=key):
                    outbox = Outbox(session, self._outbox, cause=envelope)
                    context = Context(envelope, session, outbox, self._deps, 1, routing_key)
                    await sub.on_invalid(envelope, error, context)
        except Exception:
            log.exception("recording the invalid-message outcome failed")

    async def _dead_letter(
        self,
        sub: Subscription,
        message: AbstractIncomingMessage,
        *,
        reason: str,
        kind: str,
        attempts: int = 1,
    ) -> None:
        queue = topology.queue_name(sub.queue, self._namespace)
        headers = {
            "x-qbb-reason": reason[:4000],
            "x-qbb-kind": kind,
            "x-qbb-queue": queue,
            "x-qbb-attempts": attempts,
            # Replay needs it: a platform's ingress event is checked against its routing key's prefix.
            ROUTING_KEY_HEADER: _routing_key(message),
        }
        assert self._default_exchange is not None
        await self._default_exchange.publish(
            _copy(message, headers=headers), routing_key=topology.dead_letter_queue_name(queue)
        )
        log.error("message dead-lettered", extra={"reason": reason, "kind": kind, "queue": sub.queue})
        tracing.mark_failed(reason)
        EVENTS_DEAD_LETTERED.labels(sub.queue, kind).inc()
        EVENTS_CONSUMED.labels(sub.queue, _type_label(message.type), "dead_lettered").inc()
        await message.ack()


@dataclass(slots=True)
class _Unit:
    """One decoded message waiting for its handler's transaction."""

    sub: Subscription
    message: AbstractIncomingMessage
    envelope: Envelope
    data: Any
    attempt: int
    context: contextvars.Context = field(default_factory=contextvars.copy_context)
    outcome: asyncio.Future[str] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class _Batches:
    """One queue's messages waiting for a transaction, run in batches by up to ``runners`` tasks.

    A runner yields once before it takes a batch, so the deliveries of one read from the broker
    are waiting together; a lone message is a batch of one. With ``linger``, a runner that found
    less than a batch waiting waits that long first, for the messages arriving meanwhile (under
    load the next batches are full and go at once). A runner stops when nothing waits, and the
    check and the stop have no await between them, so a message never waits without a runner.
    """

    def __init__(self, alone: Any, together: Any, size: int, runners: int, *, linger: float = 0.0) -> None:
        self._alone, self._together, self._size, self._runners = alone, together, size, runners
        self._linger = linger
        self._waiting: deque[_Unit] = deque()
        self._running = 0
        self._tasks: set[asyncio.Task[None]] = set()  # the runners, referenced while they run

    async def submit(self, unit: _Unit) -> str:
        self._waiting.append(unit)
        if self._running < self._runners:
            self._running += 1
            # In a context of its own, not the first message's: a batch handler's logs and spans
            # belong to no single message of the batch.
            runner = asyncio.create_task(self._run(), name="consumer-batch", context=contextvars.Context())
            self._tasks.add(runner)
            runner.add_done_callback(self._tasks.discard)
        return await unit.outcome

    async def _run(self) -> None:
        units: list[_Unit] = []
        try:
            await asyncio.sleep(self._linger if len(self._waiting) < self._size else 0)
            while self._waiting:
                units = [self._waiting.popleft() for _ in range(min(self._size, len(self._waiting)))]
                await self._settle(units)
        finally:
            self._running -= 1
            for unit in units:  # cancelled (the loop ending): these return to their queue unacked
                if not unit.outcome.done():
                    unit.outcome.cancel()

    async def _settle(self, units: list[_Unit]) -> None:
        """Handle ``units`` together; if that fails, each half again the same way, in order, down to
        single messages, so a failing message is sorted alone and costs its batch-mates a few
        transactions (about two for each halving), not one each."""
        if len(units) > 1:
            try:
                outcomes = await self._together(units)
            except Exception:
                log.info("a batch failed; its halves are handled apart", exc_info=True)
                half = len(units) // 2
                await self._settle(units[:half])
                await self._settle(units[half:])
            else:
                for unit, outcome in zip(units, outcomes, strict=True):
                    if not unit.outcome.done():  # its waiter was cancelled: the broker redelivers it
                        unit.outcome.set_result(outcome)
            return
        unit = units[0]
        try:
            outcome = await self._alone(unit)
        except Exception as exc:  # noqa: BLE001 - the message's own handling sorts it
            if not unit.outcome.done():
                unit.outcome.set_exception(exc)
        else:
            if not unit.outcome.done():
                unit.outcome.set_result(outcome)


def _copy(message: AbstractIncomingMessage, *, headers: dict[str, Any]) -> Message:
    return Message(
        message.body,
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        type=message.type,
        content_type=message.content_type,
        delivery_mode=message.delivery_mode,
        headers={**(message.headers or {}), **headers},
    )


def _routing_key(message: AbstractIncomingMessage) -> str:
    """The key the message was first published with: the header only on a message that came through
    the default exchange (a retry, or a replay), where only the bridge's own users may publish; a
    platform setting it on ingress must not pass for the bridge's traffic (no prefix, no owner check)."""
    if message.exchange:
        return message.routing_key or ""
    kept = (message.headers or {}).get(ROUTING_KEY_HEADER)
    if isinstance(kept, bytes):
        kept = kept.decode()
    return str(kept) if kept else (message.routing_key or "")


def _type_label(type_: str | None) -> str:
    """A metric label from the AMQP ``type`` property: a catalogue type or "unknown", never free text."""
    return type_ if type_ is not None and type_ in CATALOGUE else "unknown"


def _delivery_count(message: AbstractIncomingMessage) -> int:
    """How many times the broker delivered ``message`` before (0 on the first delivery)."""
    value = (message.headers or {}).get(DELIVERY_COUNT_HEADER, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _attempt(message: AbstractIncomingMessage, *, max_attempt: int) -> int:
    """The ``x-qbb-attempt`` header (1 when absent); anything but an integer in range is refused."""
    value = (message.headers or {}).get(ATTEMPT_HEADER)
    if value is None:
        return 1
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or len(text) > 6 or not 1 <= int(text) <= max_attempt:
        shown = text[:40]
        raise InvalidMessage(
            "broken header", [Problem(ATTEMPT_HEADER, f"{shown!r} is not an attempt number 1..{max_attempt}")]
        )
    return int(text)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]
