"""Structured JSON logs carrying the event id, correlation id, tenant and realm of the work in hand.

Context comes from ``contextvars`` so every log line inside a handler carries it without passing
it around. Secrets never reach a log: known secret-bearing keys are masked.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "qbb_log_context", default=_EMPTY
)

# A token has no business in a log line; these keys are masked wherever they appear in `extra`.
_SECRET_KEYS = frozenset(
    {
        "access_token",
        "refresh_token",
        "id_token",
        "token",
        "client_secret",
        "authorization",
        "password",
        "key",
    }
)
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


@contextmanager
def log_context(**values: Any) -> Iterator[None]:
    """Add ``values`` (event_id, correlation_id, tenant_id, realm_id, ...) to every log line inside."""
    merged = {**_context.get(), **{k: v for k, v in values.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


def current_context() -> Mapping[str, Any]:
    """The log context in force (read by the outbox to carry correlation ids)."""
    return _context.get()


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, service, logger, message, context, extras."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self._service,
            "logger": record.name,
            "message": record.getMessage(),
            **_context.get(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = "***" if key.lower() in _SECRET_KEYS else value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(service: str, level: str = "INFO") -> None:
    """Route every logger to stdout as JSON lines; call once from ``main()``."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs full URLs at INFO; an OAuth URL can carry a code, so keep it to warnings.
    for noisy in ("httpx", "httpcore", "aiormq", "aio_pika", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
