"""The call budget's arithmetic: what a realm may start now, counted the way QBO counts."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from shared.qbo.budget import (
    MARGIN,
    STALE_SECONDS,
    Held,
    Limits,
    lease_size,
    retry_after_seconds,
    room,
    throttle_pause,
)

LIMITS = Limits(per_second=10, per_minute=500, concurrent=10, batch_per_minute=40)


def test_an_idle_realm_has_its_whole_budget_at_once() -> None:
    assert room([], now=100.0, limits=LIMITS, batch=False) == room([], now=0.0, limits=LIMITS, batch=False)
    assert room([], now=100.0, limits=LIMITS, batch=False).calls == 10
    assert room([], now=100.0, limits=LIMITS, batch=False).wait == 0


def test_an_open_lease_counts_in_every_window_and_as_in_flight() -> None:
    held = [Held(calls=7, batch=False, granted=99.0)]
    assert room(held, now=100.0, limits=LIMITS, batch=False).calls == 3


def test_calls_count_until_a_second_after_their_lease_closed_not_after_their_grant() -> None:
    # Granted at 98 but the lease closed at 99.5: a call of it may have reached QBO at 99.5.
    held = [Held(calls=10, batch=False, granted=98.0, closed=99.5)]
    full = room(held, now=100.2, limits=LIMITS, batch=False)
    assert full.calls == 0
    assert abs(full.wait - (99.5 + 1.0 + MARGIN - 100.2)) < 1e-9
    assert room(held, now=100.5 + MARGIN + 1e-6, limits=LIMITS, batch=False).calls == 10


def test_the_minute_window_holds_what_the_second_window_let_go() -> None:
    held = [Held(calls=10, batch=False, granted=t, closed=t + 0.1) for t in range(0, 50)]
    now = 55.0
    assert room(held, now=now, limits=LIMITS, batch=False).calls == 0
    # The first lease leaves the minute window 60 s after it closed.
    assert abs(room(held, now=now, limits=LIMITS, batch=False).wait - (0.1 + 60 + MARGIN - now)) < 1e-9


def test_batch_calls_have_their_own_minute_budget_that_plain_calls_do_not_use() -> None:
    held = [Held(calls=1, batch=True, granted=t * 1.5, closed=t * 1.5 + 0.1) for t in range(40)]
    now = held[-1].closed + 1.5  # type: ignore[operator]
    assert room(held, now=now, limits=LIMITS, batch=True).calls == 0
    assert room(held, now=now, limits=LIMITS, batch=False).calls == 10


def test_a_throttled_realm_waits_until_its_pause_ends() -> None:
    assert room([], now=10.0, limits=LIMITS, batch=False, throttled_until=12.5).wait == 2.5
    assert room([], now=13.0, limits=LIMITS, batch=False, throttled_until=12.5).calls == 10


def test_a_lease_left_open_by_a_dead_process_stops_counting_once_stale() -> None:
    held = [Held(calls=10, batch=False, granted=0.0)]
    assert room(held, now=STALE_SECONDS - 1, limits=LIMITS, batch=False).calls == 0
    assert room(held, now=STALE_SECONDS + 1, limits=LIMITS, batch=False).calls == 10


def test_scaled_limits_compress_the_windows_like_the_sandbox() -> None:
    scaled = Limits.scaled(per_second=10, per_minute=500, concurrent=10, batch_per_minute=40, time_scale=10)
    assert (scaled.second, scaled.minute) == (0.1, 6.0)


def test_a_lease_is_what_the_waiting_callers_need_at_least_the_least_at_most_what_is_free() -> None:
    assert lease_size(free=10, waiting=1, least=5) == 5
    assert lease_size(free=10, waiting=8, least=5) == 8
    assert lease_size(free=3, waiting=8, least=5) == 3
    assert lease_size(free=0, waiting=8, least=5) == 0


@given(
    st.lists(
        st.tuples(st.floats(0, 0.5), st.floats(0.0, 0.5), st.integers(1, 30)),
        min_size=1,
        max_size=60,
    )
)
def test_granting_only_what_room_allows_never_lets_qbo_count_more_than_its_limits(
    plan: list[tuple[float, float, int]],
) -> None:
    """Whatever the gaps between asks and however late each call arrives, QBO's windows hold."""
    limits = Limits(per_second=10, per_minute=50, concurrent=10, batch_per_minute=40)
    leases: list[tuple[int, float, float]] = []  # calls, granted, closes at
    arrivals: list[float] = []
    now = 0.0
    for gap, delay, wanted in plan:
        now += gap
        held = [Held(n, False, granted, closes if closes <= now else None) for n, granted, closes in leases]
        calls = lease_size(
            free=room(held, now=now, limits=limits, batch=False).calls, waiting=wanted, least=1
        )
        if calls:
            # Each call reaches QBO ``delay`` after the grant; the lease closes once they answered.
            leases.append((calls, now, now + delay + 0.01))
            arrivals += [now + delay] * calls
    arrivals.sort()
    for i, at in enumerate(arrivals):
        in_second = sum(1 for a in arrivals[: i + 1] if a > at - limits.second)
        in_minute = sum(1 for a in arrivals[: i + 1] if a > at - limits.minute)
        assert in_second <= limits.per_second
        assert in_minute <= limits.per_minute


def test_a_429_pauses_a_second_then_doubles_while_they_keep_coming_up_to_a_minute() -> None:
    first = throttle_pause(retry_after=None, previous=None, since_previous=None, first=1, longest=60)
    assert first == 1
    assert throttle_pause(retry_after=None, previous=1, since_previous=0.5, first=1, longest=60) == 2
    assert throttle_pause(retry_after=None, previous=32, since_previous=1, first=1, longest=60) == 60
    # Long after the last pause ended, a new 429 starts again from the first pause.
    assert throttle_pause(retry_after=None, previous=32, since_previous=500, first=1, longest=60) == 1


def test_a_retry_after_from_qbo_is_the_pause() -> None:
    assert throttle_pause(retry_after=7, previous=32, since_previous=1, first=1, longest=60) == 7


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = dt.datetime(2026, 12, 1, 12, 0, 0, tzinfo=dt.UTC)
    assert retry_after_seconds({"retry-after": "12"}, now=now) == 12
    assert retry_after_seconds({"retry-after": "Tue, 01 Dec 2026 12:00:30 GMT"}, now=now) == 30
    assert retry_after_seconds({}, now=now) is None
    assert retry_after_seconds({"retry-after": "soon"}, now=now) is None
