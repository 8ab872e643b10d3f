"""Subscriptions a service declares with a decorator: queue, event types, retry schedule, handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from shared import tracing
from shared.contracts.codec import InvalidMessage
from shared.contracts.envelope import Envelope
from shared.logging import log_context
from shared.messaging.outbox import Outbox

DepsT = TypeVar("DepsT")

DEFAULT_RETRY_DELAYS = (1.0, 5.0, 30.0, 120.0)
# How long the outcomes on their way back (to the platforms, to the read path) wait to share a
# transaction: tens of them a second arrived one a transaction, each paying its own inbox claim,
# reads, outbox insert, commit and relay step. Nothing waits on the write path.
OUTCOMES_LINGER = 0.05


@dataclass(frozen=True, slots=True)
class Context(Generic[DepsT]):
    """What a handler gets besides its typed data: the envelope, its transaction, the outbox.

    ``routing_key`` is the key the message was first published with (kept across retries) and
    ``user_id`` its AMQP user-id property (RabbitMQ refuses one that is not the publisher's
    user); both are empty outside a delivery (give-up and invalid hooks).
    """

    envelope: Envelope
    session: AsyncSession
    outbox: Outbox
    deps: DepsT
    attempt: int
    routing_key: str = ""
    user_id: str | None = None
    # The message's own trace context (its consume span), for work a batch handler records now and
    # does later: a batch handler runs once for many messages, outside each one's span.
    trace: Mapping[str, str] = field(default_factory=dict)

    @contextmanager
    def as_the_message(self) -> Iterator[None]:
        """Inside a batch handler: what is logged and staged inside is this message's (its log
        fields, and its trace context on the events it causes), as in a handler of its own."""
        e = self.envelope
        with (
            log_context(
                event_id=e.id, correlation_id=e.correlation_id, tenant_id=e.tenantid, realm_id=e.realmid
            ),
            tracing.continuing(self.trace.get("traceparent"), self.trace.get("tracestate")),
        ):
            yield


Handler = Callable[[Any, Context[Any]], Awaitable[None]]
# A handler of several messages of one queue at once, in their shared transaction (in delivery
# order, duplicates left out): for a queue whose handling is a few statements that can each serve
# the whole batch. A queue's batches are handled one at a time, in delivery order. A failure fails
# the batch; its halves are then handled again the same way, down to single messages.
BatchHandler = Callable[[list[tuple[Any, Context[Any]]]], Awaitable[None]]
GiveUpHook = Callable[[Envelope, str, Context[Any]], Awaitable[None]]
InvalidHook = Callable[[Envelope, InvalidMessage, Context[Any]], Awaitable[None]]
Takes = Callable[[Envelope], bool]


@dataclass(frozen=True, slots=True)
class Subscription:
    """One consumer: a named quorum queue bound to ``routing_keys``, handled by ``handler``.

    ``retry_delays`` is the schedule of delayed retries after a failure; after the last one the
    message goes to the dead-letter queue and ``on_give_up`` (if any) records the outcome, for
    example by adding ``sync.failed`` to the outbox. ``on_invalid`` (if any) does the same for a
    well-formed envelope whose data fails its contract (e.g. adding ``sync.rejected`` naming every
    problem); the message still goes to the dead-letter queue.
    """

    queue: str
    routing_keys: tuple[str, ...]
    handler: Handler | None
    retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS
    on_give_up: GiveUpHook | None = None
    on_invalid: InvalidHook | None = None
    # Routing keys bound on the platforms' ingress exchange too (e.g. ``*.invoice.approved``).
    ingress_keys: tuple[str, ...] = ()
    # The consumer's name in the inbox (default: the queue's): two queues of one handler that share
    # it deduplicate each other, so an event that arrives both ways has one effect.
    inbox_name: str = ""
    # This queue's own prefetch window (default: the service's), e.g. small for a history lane.
    prefetch: int | None = None
    # "history": a queue fed in bulk; the outbox relay publishes the rows staged for it (``queue:``
    # targets) after every other row, so a live event is never published behind a batch.
    lane: str = "live"
    # Which envelopes the handler has anything to do with: the others are acknowledged as they
    # arrive, without a transaction (e.g. events withheld from the platforms, in auth's egress).
    takes: Takes | None = None
    batch_handler: BatchHandler | None = None
    # A batch handler off the write path may wait this long for more messages before it takes a
    # batch that is not full: a few messages a transaction rather than one, at that much latency.
    linger: float = 0.0

    @property
    def inbox_consumer(self) -> str:
        """The consumer name under which this queue's messages are claimed in the inbox."""
        return self.inbox_name or self.queue


@dataclass
class Router:
    """The subscriptions of one service, readable on one screen in its ``handlers.py``."""

    subscriptions: list[Subscription] = field(default_factory=list)

    def subscribe(
        self,
        *,
        queue: str,
        routing_keys: Sequence[str],
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        on_give_up: GiveUpHook | None = None,
        on_invalid: InvalidHook | None = None,
        ingress_keys: Sequence[str] = (),
        inbox_name: str = "",
        prefetch: int | None = None,
        lane: str = "live",
        takes: Takes | None = None,
    ) -> Callable[[Handler], Handler]:
        """Register the decorated coroutine as the handler of ``queue``."""
        sub = self._subscription(
            queue,
            routing_keys,
            retry_delays,
            on_give_up,
            on_invalid,
            ingress_keys,
            inbox_name,
            prefetch,
            lane,
            takes,
        )

        def register(handler: Handler) -> Handler:
            self.subscriptions.append(replace(sub, handler=handler))
            return handler

        return register

    def subscribe_batches(
        self,
        *,
        queue: str,
        routing_keys: Sequence[str],
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        on_give_up: GiveUpHook | None = None,
        on_invalid: InvalidHook | None = None,
        ingress_keys: Sequence[str] = (),
        inbox_name: str = "",
        prefetch: int | None = None,
        lane: str = "live",
        takes: Takes | None = None,
        linger: float = 0.0,
    ) -> Callable[[BatchHandler], BatchHandler]:
        """Register the decorated coroutine as the batch handler of ``queue`` (see ``BatchHandler``;
        ``linger``: how long a batch that is not full waits for more messages; the other arguments
        as ``subscribe``'s)."""
        if linger < 0:
            raise ValueError(f"linger {linger!r} is negative")
        sub = self._subscription(
            queue,
            routing_keys,
            retry_delays,
            on_give_up,
            on_invalid,
            ingress_keys,
            inbox_name,
            prefetch,
            lane,
            takes,
        )

        def register(handler: BatchHandler) -> BatchHandler:
            self.subscriptions.append(replace(sub, batch_handler=handler, linger=linger))
            return handler

        return register

    def _subscription(
        self,
        queue: str,
        routing_keys: Sequence[str],
        retry_delays: Sequence[float],
        on_give_up: GiveUpHook | None,
        on_invalid: InvalidHook | None,
        ingress_keys: Sequence[str],
        inbox_name: str,
        prefetch: int | None,
        lane: str,
        takes: Takes | None,
    ) -> Subscription:
        """A subscription of ``queue`` with no handler yet (the decorator adds one), once checked."""
        if any(s.queue == queue for s in self.subscriptions):
            raise ValueError(f"queue {queue!r} already has a handler")
        if lane not in ("live", "history"):
            raise ValueError(f"lane {lane!r} is neither 'live' nor 'history'")
        return Subscription(
            queue,
            tuple(routing_keys),
            None,
            tuple(retry_delays),
            on_give_up,
            on_invalid,
            tuple(ingress_keys),
            inbox_name,
            prefetch,
            lane,
            takes,
        )

    def history_queues(self) -> tuple[str, ...]:
        """The queues of the history lane (their outbox rows are relayed after the others)."""
        return tuple(s.queue for s in self.subscriptions if s.lane == "history")
