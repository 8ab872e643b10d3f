"""Counting the SQL statements this test process sends, to check work done per batch, not per row."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


@contextlib.contextmanager
def counting_statements(prefixes: tuple[str, ...], *, on: Any = Engine) -> Iterator[Counter[str]]:
    """How many statements that begin with each of ``prefixes`` this process sent meanwhile, on any
    engine (services run in the test's event loop use engines of their own), or on the engine ``on``
    alone (its ``sync_engine`` for an async one)."""
    counts: Counter[str] = Counter()

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        counts.update(p for p in prefixes if statement.lstrip().startswith(p))

    event.listen(on, "before_cursor_execute", seen)
    try:
        yield counts
    finally:
        event.remove(on, "before_cursor_execute", seen)
