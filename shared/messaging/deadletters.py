"""Dead-letter queues for the operator: read them without losing a message, replay one through the outbox.

Every service gets the same two admin routes (mounted by the runtime with its private routes):
``GET /v1/dead-letters`` lists each of its dead-letter queues with the reason per message, and
``POST /v1/dead-letters/{queue}/messages/{message_id}/replay`` sends one message back to the queue
that gave up on it (and only that queue) through the outbox, then removes it from the DLQ.

Reading takes messages with ``basic.get`` on a channel of its own and never acknowledges them:
closing the channel returns every one to the queue, also if this process dies half-way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustConnection
from aio_pika.exceptions import ChannelClosed
from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, Field
from sqlalchemy import Table

from shared.contracts.codec import DEFAULT_LIMITS, InvalidMessage, decode_envelope
from shared.http import Resources, ResourcesDep, require_admin
from shared.messaging import topology
from shared.messaging.outbox import Outbox
from shared.messaging.router import Router

log = logging.getLogger(__name__)

PEEK_LIMIT = 100  # messages shown per queue; the count says how many there are
BODY_PREVIEW = 2000  # characters of a message's body shown
REPLAY_SEARCH = 1000  # a replay looks this far into its DLQ (the page shows the first PEEK_LIMIT)
REPLAY_WAIT_SECONDS = 5.0  # how long a replay looks for a message before it says there is none
REPLAY_RETRY_SECONDS = 0.2


class DeadLetterOut(BaseModel):
    """One dead-lettered message: what it is and why it was given up on."""

    message_id: str | None
    type: str | None
    kind: str = Field(description="failed, invalid, undecodable, unknown_type, crash_loop, error, …")
    reason: str = Field(description="Why the service gave up on it, in words")
    attempts: int | None = None
    routing_key: str | None = Field(default=None, description="The key it was first published with")
    body: str = Field(description=f"The first {BODY_PREVIEW} characters of the body")
    replayable: bool = Field(description="A CloudEvents envelope with a known routing key")


class DeadLetterQueueOut(BaseModel):
    queue: str = Field(description="The consumer queue (what a replay goes back to)")
    dead_letter_queue: str
    count: int = Field(description="Messages in the dead-letter queue now")
    messages: list[DeadLetterOut] = Field(description=f"The first {PEEK_LIMIT} of them, oldest first")


class DeadLettersOut(BaseModel):
    queues: list[DeadLetterQueueOut]


class Replayed(BaseModel):
    queue: str
    message_id: str


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return None if value is None else str(value)


def original_routing_key(headers: Mapping[str, Any]) -> str | None:
    """The key the message was first published with: ours (``x-qbb-routing-key``), else the broker's
    ``x-death`` record (a message the broker dead-lettered itself, at the delivery limit)."""
    kept = _text(headers.get(topology.ROUTING_KEY_HEADER))
    if kept:
        return kept
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[-1], Mapping):
        keys = deaths[-1].get("routing-keys")
        if isinstance(keys, list) and keys:
            return _text(keys[0])
    return None


def describe(message: AbstractIncomingMessage) -> DeadLetterOut:
    """What the page shows of one dead letter (its reason from our headers or the broker's)."""
    headers: Mapping[str, Any] = message.headers or {}
    reason = _text(headers.get("x-qbb-reason"))
    kind = _text(headers.get("x-qbb-kind"))
    if reason is None and headers.get("x-death"):
        kind, reason = "delivery_limit", "the broker gave up on it after its delivery limit"
    attempts = headers.get("x-qbb-attempts")
    routing_key = original_routing_key(headers)
    try:
        decode_envelope(message.body, DEFAULT_LIMITS)
        decodes = True
    except InvalidMessage:
        decodes = False
    return DeadLetterOut(
        message_id=message.message_id,
        type=message.type,
        kind=kind or "unknown",
        reason=reason or "no reason recorded",
        attempts=attempts if isinstance(attempts, int) and not isinstance(attempts, bool) else None,
        routing_key=routing_key,
        body=message.body[:BODY_PREVIEW].decode("utf-8", "replace"),
        replayable=decodes and routing_key is not None,
    )


async def _taken(
    channel: AbstractChannel, dlq: str, *, limit: int
) -> tuple[int, list[AbstractIncomingMessage]]:
    """The DLQ's count and its first ``limit`` messages, taken unacknowledged: closing the channel
    returns them (a consumer-less queue, so nothing else takes them meanwhile)."""
    queue = await channel.declare_queue(dlq, passive=True)
    count = int(queue.declaration_result.message_count or 0)
    taken: list[AbstractIncomingMessage] = []
    while len(taken) < min(count, limit):
        message = await queue.get(no_ack=False, fail=False)
        if message is None:
            break
        taken.append(message)
    return count, taken


async def peek(connection: AbstractRobustConnection, *, queue: str, limit: int) -> DeadLetterQueueOut:
    """``queue``'s dead letters (the first ``limit``), every message left where it was."""
    dlq = topology.dead_letter_queue_name(queue)
    channel = await connection.channel()
    try:
        count, taken = await _taken(channel, dlq, limit=limit)
        shown = [describe(m) for m in taken]
    except ChannelClosed:  # not declared (the service never consumed there): nothing dead-lettered
        return DeadLetterQueueOut(queue=queue, dead_letter_queue=dlq, count=0, messages=[])
    finally:
        if not channel.is_closed:
            await channel.close()  # returns every message taken above to the queue
    return DeadLetterQueueOut(queue=queue, dead_letter_queue=dlq, count=count, messages=shown)


class NotReplayable(Exception):
    """The message is not a CloudEvents envelope, or the key it was published with is unknown."""


async def replay(
    connection: AbstractRobustConnection,
    outbox_table: Table,
    res: Resources,
    *,
    queue: str,
    message_id: str,
) -> bool:
    """Send ``message_id`` back to ``queue`` through the outbox, then take it off the DLQ; False if absent.

    The outbox row commits before the ack: a crash in between leaves the message in the DLQ as
    well as queued again (the consumer's inbox absorbs the duplicate), never lost.
    """
    dlq = topology.dead_letter_queue_name(queue)
    deadline = asyncio.get_running_loop().time() + REPLAY_WAIT_SECONDS
    while (held := await _find(connection, dlq, message_id)) is None:
        # Messages another reader took (a listing of this page, say) are back in the queue only
        # once the broker has processed the close of that reader's channel: a replay clicked right
        # after a listing would find none of them.
        if asyncio.get_running_loop().time() >= deadline:
            return False
        await asyncio.sleep(REPLAY_RETRY_SECONDS)
    channel, found = held
    try:
        routing_key = original_routing_key(found.headers or {})
        try:
            envelope = decode_envelope(found.body, DEFAULT_LIMITS)
        except InvalidMessage as exc:
            raise NotReplayable(f"not a CloudEvents envelope: {exc}") from None
        if routing_key is None:
            raise NotReplayable("the routing key it was first published with is not recorded")
        async with res.sessionmaker() as session, session.begin():
            await Outbox(session, outbox_table).to_queue(envelope, queue=queue, routing_key=routing_key)
        await found.ack()
        log.info("dead letter replayed", extra={"queue": queue, "event_id": envelope.id})
        return True
    finally:
        if not channel.is_closed:
            await channel.close()


async def _find(
    connection: AbstractRobustConnection, dlq: str, message_id: str
) -> tuple[AbstractChannel, AbstractIncomingMessage] | None:
    """``message_id`` taken from ``dlq`` on a channel of its own (the caller closes it), or None
    (every message taken on the way is returned)."""
    channel = await connection.channel()
    try:
        _, taken = await _taken(channel, dlq, limit=REPLAY_SEARCH)
    except BaseException:
        if not channel.is_closed:
            await channel.close()
        raise
    found = next((m for m in taken if m.message_id == message_id), None)
    if found is None:
        await channel.close()
        return None
    return channel, found


def routes(router: Router, outbox_table: Table, *, namespace: str) -> APIRouter:
    """The admin routes listing and replaying the dead letters of ``router``'s queues."""
    api = APIRouter(tags=["dead letters"], dependencies=[Depends(require_admin)])
    queues: Sequence[str] = [topology.queue_name(s.queue, namespace) for s in router.subscriptions]

    @api.get("/v1/dead-letters")
    async def list_dead_letters(
        res: ResourcesDep, limit: Annotated[int, Query(ge=1, le=PEEK_LIMIT)] = PEEK_LIMIT
    ) -> DeadLettersOut:
        """This service's dead-letter queues (admin) → each message with its reason; nothing is removed."""
        return DeadLettersOut(queues=[await peek(res.connection, queue=q, limit=limit) for q in queues])

    @api.post("/v1/dead-letters/{queue}/messages/{message_id}/replay")
    async def replay_dead_letter(queue: str, message_id: str, res: ResourcesDep) -> Replayed:
        """Replay one dead letter (admin) → back to its queue through the outbox, off the DLQ."""
        if queue not in queues:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such queue in this service")
        try:
            done = await replay(res.connection, outbox_table, res, queue=queue, message_id=message_id)
        except NotReplayable as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from None
        if not done:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such message in that dead-letter queue")
        return Replayed(queue=queue, message_id=message_id)

    return api
