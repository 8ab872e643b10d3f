"""The arithmetic of a realm's call budget (reference §6.1), pure: no clock, no database.

Intuit (and the sandbox) count a call when it *arrives*, which is some time after our limiter
granted it and before its answer came back. So a call is counted against every window from the
moment its budget is granted until its window's span after it *finished*: wherever in between it
arrived, QBO can count it no longer than that. Budget is granted in *leases* of a few calls
(``Held``): while a lease is open all its calls count everywhere (they may be in flight); once it
is closed, the calls it really made count until ``closed + span``, where ``closed`` is when the last
of them came back (a lease that ran out unspent closes later than that).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# A call reaches QBO after its grant and ends before its lease closes; this covers clock rounding.
MARGIN = 0.005
# A lease still open this long after its grant belongs to a process that died (QBO ends calls at 120 s).
STALE_SECONDS = 150.0
LONGEST_RETRY_AFTER = 600.0


@dataclass(frozen=True)
class Limits:
    """Intuit's per-realm limits; ``second`` and ``minute`` are the window spans in seconds (scaled)."""

    per_second: int = 10
    per_minute: int = 500
    concurrent: int = 10
    batch_per_minute: int = 40
    second: float = 1.0
    minute: float = 60.0

    @classmethod
    def scaled(
        cls, *, per_second: int, per_minute: int, concurrent: int, batch_per_minute: int, time_scale: float
    ) -> Limits:
        """The limits with windows compressed like the sandbox's ``time_scale`` (10 → a minute lasts 6 s)."""
        return cls(per_second, per_minute, concurrent, batch_per_minute, 1.0 / time_scale, 60.0 / time_scale)


@dataclass(frozen=True)
class Held:
    """A lease of budget: ``calls`` calls (batch calls if ``batch``), granted and maybe closed (epoch s)."""

    calls: int
    batch: bool
    granted: float
    closed: float | None = None


@dataclass(frozen=True)
class Room:
    """How many calls may start now (``calls``), else how long to wait before asking again."""

    calls: int
    wait: float


def room(
    held: Iterable[Held], *, now: float, limits: Limits, batch: bool, throttled_until: float | None = None
) -> Room:
    """The budget a realm has left at ``now`` given the leases of every process (``held``)."""
    if throttled_until is not None and throttled_until > now:
        return Room(0, throttled_until - now)
    leases = list(held)
    live = [h for h in leases if h.closed is None and h.granted > now - STALE_SECONDS]
    done = [h for h in leases if h.closed is not None]
    checks = [
        (limits.concurrent, 0.0, live, []),
        (limits.per_second, limits.second, live, done),
        (limits.per_minute, limits.minute, live, done),
    ]
    if batch:
        checks.append(
            (
                limits.batch_per_minute,
                limits.minute,
                [h for h in live if h.batch],
                [h for h in done if h.batch],
            )
        )
    free, waits = math.inf, []
    for cap, span, in_flight, finished in checks:
        counted = [h for h in finished if _frees_at(h, span) > now]
        left = cap - sum(h.calls for h in in_flight) - sum(h.calls for h in counted)
        free = min(free, left)
        if left <= 0:
            # The earliest a closed lease leaves this window; with none, an open lease must close first.
            waits.append(min((_frees_at(h, span) - now for h in counted), default=limits.second / 10))
    if free > 0:
        return Room(int(free), 0.0)
    return Room(0, max(max(waits), 0.001))


def _frees_at(h: Held, span: float) -> float:
    assert h.closed is not None
    return h.closed + span + MARGIN


def lease_size(*, free: int, waiting: int, least: int) -> int:
    """Calls to take in one lease: what the callers waiting now need, at least ``least``, at most ``free``."""
    return max(0, min(free, max(waiting, least)))


def throttle_pause(
    *,
    retry_after: float | None,
    previous: float | None,
    since_previous: float | None,
    first: float,
    longest: float,
) -> float:
    """How long a realm pauses after a 429: QBO's ``Retry-After`` if it sent one, else a backoff.

    The backoff starts at ``first`` and doubles while 429s keep coming (a 429 within twice the
    previous pause after it), up to ``longest`` (Intuit's guidance: 60 s). A limiter that counts
    like QBO causes none, so a 429 means someone else used the realm: a short pause is usually enough.
    """
    if retry_after is not None:
        return min(max(retry_after, 0.0), LONGEST_RETRY_AFTER)
    if previous is None or since_previous is None or since_previous > 2 * previous + first:
        return min(first, longest)
    return min(max(previous * 2, first), longest)


def retry_after_seconds(headers: Mapping[str, str], *, now: dt.datetime) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date), None if absent or unreadable."""
    value = headers.get("retry-after") or headers.get("Retry-After")
    if not value or len(value) > 64:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max((when - now).total_seconds(), 0.0)
