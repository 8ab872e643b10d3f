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

    batches = _Batches(alone, together, 16, 4)
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


async def test_with_one_runner_a_queues_batches_run_one_at_a_time_in_delivery_order() -> None:
    # A batch handler records what it is given in order (the exporter's jobs take their seq from
    # it): two batches of a queue in flight at once could commit in either order.
    release = asyncio.Event()
    batches_seen: list[list[str]] = []
    running = 0

    async def together(units: list[_Unit]) -> list[str]:
        nonlocal running
        running += 1
        assert running == 1, "two batches of the queue at once"
        batches_seen.append([str(u.data) for u in units])
        await release.wait()
        running -= 1
        return ["handled"] * len(units)

    async def alone(unit: _Unit) -> str:
        return (await together([unit]))[0]

    batches = _Batches(alone, together, 16, 1)
    first = asyncio.create_task(batches.submit(_unit("m0")))
    await asyncio.sleep(0.01)  # the first batch (m0 alone) is in flight
    rest = [asyncio.create_task(batches.submit(_unit(f"m{n}"))) for n in range(1, 6)]
    await asyncio.sleep(0.01)
    release.set()
    async with asyncio.timeout(5):
        await asyncio.gather(first, *rest)
    assert [m for batch in batches_seen for m in batch] == [f"m{n}" for n in range(6)]
    assert batches_seen[0] == ["m0"]


async def test_a_failing_message_costs_its_batch_mates_a_few_transactions_not_one_each() -> None:
    # A batch that failed was handled again one message at a time: one poison among 16 waiting
    # messages cost 16 transactions, and a burst's transactions depended on where it fell.
    together_calls: list[int] = []
    alone_calls: list[str] = []

    async def together(units: list[_Unit]) -> list[str]:
        together_calls.append(len(units))
        if any(u.data == "poison" for u in units):
            raise RuntimeError("poison in the batch")
        return ["handled"] * len(units)

    async def alone(unit: _Unit) -> str:
        alone_calls.append(str(unit.data))
        if unit.data == "poison":
            raise RuntimeError("poison")
        return "handled"

    batches = _Batches(alone, together, 16, 1)
    units = [_unit(f"m{n}") for n in range(16)]
    units[5] = _unit("poison")
    waiting = [asyncio.create_task(batches.submit(u)) for u in units]
    async with asyncio.timeout(5):
        results = await asyncio.gather(*waiting, return_exceptions=True)

    assert [isinstance(r, RuntimeError) for r in results] == [n == 5 for n in range(16)]
    assert all(r == "handled" for n, r in enumerate(results) if n != 5)
    assert len(alone_calls) <= 2, alone_calls  # the poison and, at most, the one it was paired with
    assert len(together_calls) <= 9, together_calls  # 16, then two halves at each of three levels


async def test_with_a_linger_messages_trickling_in_share_a_batch_and_a_full_batch_does_not_wait() -> None:
    # Outcomes going back to the platforms arrived a few hundredths of a second apart and were
    # handled one a transaction, each paying its inbox claim, reads, outbox insert and commit.
    def runner(linger: float) -> tuple[_Batches, list[list[str]]]:
        seen: list[list[str]] = []

        async def together(units: list[_Unit]) -> list[str]:
            seen.append([str(u.data) for u in units])
            return ["handled"] * len(units)

        async def alone(unit: _Unit) -> str:
            return (await together([unit]))[0]

        return _Batches(alone, together, 4, 1, linger=linger), seen

    async def trickle(batches: _Batches, count: int, gap: float) -> None:
        waiting = []
        for n in range(count):
            waiting.append(asyncio.create_task(batches.submit(_unit(f"m{n}"))))
            await asyncio.sleep(gap)
        async with asyncio.timeout(10):
            await asyncio.gather(*waiting)

    eager, eager_seen = runner(0.0)
    await trickle(eager, 3, 0.02)
    lingering, lingering_seen = runner(2.0)
    await trickle(lingering, 3, 0.02)
    full, full_seen = runner(30.0)
    async with asyncio.timeout(10):  # a full batch waiting goes at once, not after the linger
        await asyncio.gather(*(full.submit(_unit(f"m{n}")) for n in range(4)))

    assert eager_seen == [["m0"], ["m1"], ["m2"]]
    assert lingering_seen == [["m0", "m1", "m2"]]
    assert full_seen == [["m0", "m1", "m2", "m3"]]
