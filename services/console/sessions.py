"""Server-side sessions: the browser holds a random id; the key stays in this process's memory.

Memory, not a table, on purpose: a key kept nowhere on disk cannot leak from a backup, and
losing sessions on restart only means signing in again. One console process serves them all.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class ConsoleSession:
    """One signed-in person: their key (never sent to the page), who it is, and its CSRF token."""

    session_id: str
    key: str = field(repr=False)
    is_admin: bool
    tenants: tuple[str, ...]
    csrf: str
    created_at: float
    seen_at: float
    batches: list[tuple[str, str]] = field(default_factory=list)  # (connection id, backfill batch id)
    notices: list[tuple[str, str]] = field(default_factory=list)

    @property
    def who(self) -> str:
        if self.is_admin:
            return "operator (admin key)"
        if len(self.tenants) == 1:
            return f"tenant {self.tenants[0]}"
        return f"platform ({len(self.tenants)} tenants)" if self.tenants else "API key"


class SessionStore:
    """Sessions by id, ending after ``ttl`` seconds or ``idle`` seconds unused."""

    def __init__(self, *, ttl: float, idle: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._sessions: dict[str, ConsoleSession] = {}
        self._ttl, self._idle, self._clock = ttl, idle, clock

    def create(self, *, key: str, is_admin: bool, tenants: tuple[str, ...]) -> ConsoleSession:
        self._expire()
        now = self._clock()
        session = ConsoleSession(
            session_id=secrets.token_urlsafe(32),
            key=key,
            is_admin=is_admin,
            tenants=tenants,
            csrf=secrets.token_urlsafe(32),
            created_at=now,
            seen_at=now,
        )
        self._sessions[session.session_id] = session
        return session

    def get(self, session_id: str | None) -> ConsoleSession | None:
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        now = self._clock()
        if now - session.created_at > self._ttl or now - session.seen_at > self._idle:
            self._sessions.pop(session_id, None)
            return None
        session.seen_at = now
        return session

    def drop(self, session_id: str | None) -> None:
        if session_id:
            self._sessions.pop(session_id, None)

    def _expire(self) -> None:
        for session_id in list(self._sessions):
            self.get(session_id)
