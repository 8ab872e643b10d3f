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


@contextlib.contextmanager
def compiled_each_time(*, on: Any = Engine) -> Iterator[Counter[str]]:
    """The statements this process sent meanwhile that SQLAlchemy could not take from its cache of
    compiled statements (no cache key: a multi-row ``insert().values([...])``, say) and compiled
    afresh for each execution, by their first 80 characters."""
    counts: Counter[str] = Counter()

    def seen(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        compiled = getattr(context, "compiled", None)
        if compiled is not None and not context.isddl and compiled.cache_key is None:
            counts[" ".join(statement.split())[:80]] += 1

    event.listen(on, "before_cursor_execute", seen)
    try:
        yield counts
    finally:
        event.remove(on, "before_cursor_execute", seen)
