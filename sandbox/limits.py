"""Intuit's throttles per realm + app (and batch per realm), and injected faults."""

from __future__ import annotations

import collections
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any

# Intuit's published values (reference §6.1).
PER_MINUTE = 500
PER_SECOND = 10
CONCURRENT = 10
BATCH_PER_MINUTE = 40
BATCH_PER_REALM_PER_MINUTE = 120


@dataclass
class LimitSettings:
    enabled: bool = True
    per_minute: int = PER_MINUTE
    per_second: int = PER_SECOND
    concurrent: int = CONCURRENT
    batch_per_minute: int = BATCH_PER_MINUTE
    batch_per_realm_per_minute: int = BATCH_PER_REALM_PER_MINUTE
    time_scale: float = 1.0

    def public(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FaultSettings:
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    error_rate: float = 0.0
    error_status: int = 500
    timeout_rate: float = 0.0
    # The write lands, then the caller's connection hangs and gets a 504: the "did it happen?" case.
    timeout_after_write_rate: float = 0.0
    # How long a timed-out call hangs before its 504 (Intuit's gateway: about 30 s).
    timeout_seconds: float = 30.0
    throttle_next: int = 0
    path_contains: str | None = None

    def public(self) -> dict[str, Any]:
        return asdict(self)

    def latency_seconds(self) -> float:
        jitter = random.uniform(0, self.latency_jitter_ms) if self.latency_jitter_ms else 0.0
        return max(0.0, (self.latency_ms + jitter) / 1000)


Window = collections.deque[float]


@dataclass
class Limits:
    settings: LimitSettings = field(default_factory=LimitSettings)
    minute: dict[tuple[str, str], Window] = field(default_factory=dict)
    second: dict[tuple[str, str], Window] = field(default_factory=dict)
    batch: dict[tuple[str, str], Window] = field(default_factory=dict)
    batch_realm: dict[str, Window] = field(default_factory=dict)
    in_flight: dict[tuple[str, str], int] = field(default_factory=dict)

    def reset(self) -> None:
        for table in (self.minute, self.second, self.batch, self.batch_realm, self.in_flight):
            table.clear()

    def acquire(self, realm_id: str, client_id: str, *, is_batch: bool) -> bool:
        """Admit one request (and count it) unless a limit is reached; pair with release()."""
        key = (realm_id, client_id)
        s = self.settings
        if not s.enabled:
            self.in_flight[key] = self.in_flight.get(key, 0) + 1
            return True
        now = time.monotonic()
        minute, second = 60.0 / s.time_scale, 1.0 / s.time_scale
        checks: list[tuple[Window, float, int]] = [
            (_window(self.minute, key, now, minute), minute, s.per_minute),
            (_window(self.second, key, now, second), second, s.per_second),
        ]
        if is_batch:
            checks.append((_window(self.batch, key, now, minute), minute, s.batch_per_minute))
            checks.append(
                (_window(self.batch_realm, realm_id, now, minute), minute, s.batch_per_realm_per_minute)
            )
        if self.in_flight.get(key, 0) >= s.concurrent or any(len(w) >= cap for w, _, cap in checks):
            return False
        for window, _, _ in checks:
            window.append(now)
        self.in_flight[key] = self.in_flight.get(key, 0) + 1
        return True

    def release(self, realm_id: str, client_id: str) -> None:
        key = (realm_id, client_id)
        self.in_flight[key] = max(0, self.in_flight.get(key, 0) - 1)


def _window(table: dict[Any, Window], key: Any, now: float, span: float) -> Window:
    window = table.get(key)
    if window is None:
        window = table[key] = collections.deque()
    cutoff = now - span
    while window and window[0] <= cutoff:
        window.popleft()
    return window


@dataclass
class Faults:
    by_realm: dict[str, FaultSettings] = field(default_factory=dict)
    everywhere: FaultSettings | None = None

    def for_request(self, realm_id: str, path: str) -> FaultSettings | None:
        found = self.by_realm.get(realm_id) or self.everywhere
        if found is None or (found.path_contains and found.path_contains not in path):
            return None
        return found
