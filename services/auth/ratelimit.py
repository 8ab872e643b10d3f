"""A per-key sliding-window limit in memory (per process), for routes anyone may call."""

from __future__ import annotations

import datetime as dt
from collections import deque

MAX_KEYS = 10_000


class SlidingWindow:
    """At most ``limit`` calls per key within ``window`` seconds; a refused call does not count."""

    def __init__(self, *, limit: int, window: float = 60.0) -> None:
        self._limit, self._window = limit, dt.timedelta(seconds=window)
        self._calls: dict[str, deque[dt.datetime]] = {}

    def allow(self, key: str, *, now: dt.datetime) -> bool:
        """Count a call of ``key`` at ``now`` if it is within the limit; False when it is not."""
        if len(self._calls) > MAX_KEYS:
            self._forget_idle(now)
        calls = self._calls.setdefault(key, deque())
        while calls and calls[0] <= now - self._window:
            calls.popleft()
        if len(calls) >= self._limit:
            return False
        calls.append(now)
        return True

    def _forget_idle(self, now: dt.datetime) -> None:
        horizon = now - self._window
        for key in [k for k, calls in self._calls.items() if not calls or calls[-1] <= horizon]:
            del self._calls[key]
