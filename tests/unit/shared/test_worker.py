"""The background-loop primitive: its shutdown flush never ends on a step that began before stop()."""

from __future__ import annotations

import asyncio

from shared import runtime
from shared.worker import Worker


async def test_a_step_that_began_before_stop_does_not_end_the_flush() -> None:
    # The outbox relay's shutdown: its step read the table (nothing yet), then the work winding down
    # committed rows and stop() came while the step was still finishing. A step begun after stop()
    # must look again, or those rows stay unpublished (seen: 72 rows left at exit).
    committed: list[str] = []
    published: list[str] = []
    worker: Worker

    async def step() -> bool:
        found = list(committed)  # what this step "reads" when it begins
        if not published and not found:
            committed.append("row-1")  # committed while this step runs
            worker.stop()
            await asyncio.sleep(0)
        published.extend(r for r in found if r not in published)
        return False

    worker = Worker(name="test", step=step, poll_seconds=30)
    await asyncio.wait_for(worker.run(), timeout=5)

    assert published == ["row-1"]


async def test_the_flush_goes_on_while_steps_find_work_and_ends_when_one_finds_none() -> None:
    left = [3]
    steps = 0
    worker: Worker

    async def step() -> bool:
        nonlocal steps
        steps += 1
        if steps == 1:
            worker.stop()
        if left[0]:
            left[0] -= 1
            return True
        return False

    worker = Worker(name="test", step=step, poll_seconds=30)
    await asyncio.wait_for(worker.run(), timeout=5)

    assert (left[0], steps) == (0, 4)


async def test_a_wake_up_in_the_same_turn_as_the_cancel_does_not_keep_the_loop_running() -> None:
    # The exporter's shutdown: a NOTIFY woke the dispatcher in the same event-loop turn as its
    # cancellation. ``asyncio.wait_for`` on Python 3.11 then returns the wake-up and drops the
    # cancel, so the dispatcher went on claiming jobs after its service had closed its HTTP
    # client: later tests sharing the database saw their jobs fail with "the client has been
    # closed" (CI of f6832cd, five failures).
    steps = 0

    async def step() -> bool:
        nonlocal steps
        steps += 1
        return False

    worker = Worker(name="test", step=step, poll_seconds=30)
    task = asyncio.create_task(worker.run())
    while steps == 0:
        await asyncio.sleep(0)
    await asyncio.sleep(0.01)  # waiting for a wake-up now
    worker.wake()
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=2)
    task.cancel()  # a second cancel stops the loop if the first was lost

    assert done == {task}
    assert task.cancelled()


async def test_the_runtime_cancels_background_work_again_until_it_stops() -> None:
    # Whatever drops a cancel (the wait above, a library that catches it), the service's shutdown
    # must not leave its background loop running with the clients it is about to close.
    lost = 0

    async def loop() -> None:
        nonlocal lost
        while True:
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                if lost:
                    raise
                lost += 1  # the first cancel is swallowed

    task = asyncio.create_task(loop())
    await asyncio.sleep(0.02)
    await runtime._cancel([task], grace=2)

    assert lost == 1
    assert task.cancelled()
