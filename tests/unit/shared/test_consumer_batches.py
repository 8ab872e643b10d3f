"""The consumer's batch runners: a message whose waiter is gone must not stop the others."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from shared.messaging.consumer import _Batches, _Unit


def _unit(name: str) -> _Unit:
    # The runner only passes units to the handlers and settles their outcomes: no broker needed.
    return _Unit(sub=cast(Any, None), message=cast(Any, None), envelope=cast(Any, None), data=name, attempt=0)


async def test_a_waiter_cancelled_while_its_batch_runs_leaves_the_rest_of_the_batch_settled() -> None:
    # A delivery whose handling was cancelled (its channel closing, say) while its batch ran: the
    # runner then set the cancelled outcome, raised InvalidStateError and died, and the rest of
    # the batch and the queue's waiting messages had no runner until the next delivery.
    started, release = asyncio.Event(), asyncio.Event()
    batched: list[str] = []

    async def together(units: list[_Unit]) -> list[str]:
        batched.extend(str(u.data) for u in units)
        started.set()
        await release.wait()
        return [f"done {u.data}" for u in units]

    async def alone(unit: _Unit) -> str:
        return f"alone {unit.data}"

    batches = _Batches(alone, together, 16)
    first, second = _unit("first"), _unit("second")
    waiting = [asyncio.create_task(batches.submit(u)) for u in (first, second)]
    async with asyncio.timeout(5):
        await started.wait()
    assert batched == ["first", "second"]  # one batch, running
    waiting[0].cancel()
    release.set()

    async with asyncio.timeout(5):
        assert await waiting[1] == "done second"
    assert first.outcome.cancelled()
