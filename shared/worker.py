"""The one background-loop primitive: wake on NOTIFY (or a timer), run one step, back off on errors.

A step does one unit of work in one transaction of its own and says whether more is waiting (then
the next step runs at once). Otherwise the loop sleeps until ``wake()`` — called by a LISTEN
notification on ``channel``, or by the process itself — or until ``poll_seconds`` pass, which
covers a notification lost while the listener reconnected. A step that raises is logged and the
loop waits a growing delay (``backoff``) before the next one, so a database or broker outage
neither spins the CPU nor floods the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import asyncpg

log = logging.getLogger(__name__)

Step = Callable[[], Awaitable[bool]]


class Backoff(Exception):
    """Raised by a step that could do nothing for a known reason (the broker is away): back off
    without a traceback in the log."""


def backoff_delay(failures: int, *, initial: float, ceiling: float) -> float:
    """Seconds to wait after ``failures`` consecutive failed steps: doubling from ``initial``."""
    return float(min(ceiling, initial * 2.0 ** max(0, failures - 1)))


class Worker:
    """Runs ``step`` until cancelled (or, after ``stop()``, until a step finds nothing left)."""

    def __init__(
        self,
        *,
        name: str,
        step: Step,
        poll_seconds: float,
        dsn: str | None = None,
        channel: str | None = None,
        backoff: tuple[float, float] = (0.5, 10.0),
    ) -> None:
        self._name, self._step, self._poll = name, step, poll_seconds
        self._dsn, self._channel, self._backoff = dsn, channel, backoff
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        """Run the next step now rather than at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        """Let ``run`` return once a step finds no more work (a shutdown flush)."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        listener = await self._listen()
        failures = 0
        try:
            while True:
                self._wake.clear()  # a wake-up during the step runs one more step
                # Only a step begun after stop() can say nothing is left: one begun before may have
                # read before the last commits of the work that was winding down.
                flushing = self._stopping
                try:
                    more = await self._step()
                    failures = 0
                except Backoff as exc:
                    more, failures = False, failures + 1
                    log.warning("%s: backing off", self._name, extra={"reason": str(exc)[:500]})
                except Exception:
                    more, failures = False, failures + 1
                    log.exception("%s: step failed; trying again shortly", self._name)
                if flushing and not more:
                    return
                if failures:
                    await asyncio.sleep(
                        backoff_delay(failures, initial=self._backoff[0], ceiling=self._backoff[1])
                    )
                elif not more:
                    # Not ``asyncio.wait_for``: on Python 3.11 it drops a cancel that lands in the
                    # same turn as the wake-up, and the loop would outlive its service.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self._poll):
                            await self._wake.wait()
        finally:
            if listener is not None:
                await listener.close()

    async def _listen(self) -> asyncpg.Connection | None:
        if self._dsn is None or self._channel is None:
            return None
        try:
            conn = await asyncpg.connect(self._dsn)
            await conn.add_listener(self._channel, lambda *_: self._wake.set())
            return conn
        except (OSError, asyncpg.PostgresError):
            log.warning("%s cannot LISTEN; polling only", self._name, extra={"channel": self._channel})
            return None
