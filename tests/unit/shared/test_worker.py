"""The background-loop primitive: its shutdown flush never ends on a step that began before stop()."""

from __future__ import annotations

import asyncio

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
