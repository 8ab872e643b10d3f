"""Sends due webhook deliveries (HTTP egress), signed per Standard Webhooks; one log row per attempt.

Every replica runs it; ``claim_due`` leases rows with ``SKIP LOCKED`` so none is sent twice at once.
The HTTP call happens outside any transaction; its outcome is recorded in a transaction of its own.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from typing import Any

import httpx
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.auth import egress_repository, webhook_rules
from services.auth.deps import AuthDeps
from shared.http import Resources
from shared.worker import Worker

log = logging.getLogger(__name__)

BATCH = 20


async def sender(res: Resources, deps: AuthDeps) -> None:
    """Until cancelled: send what is due, then wait a poll interval when nothing more was."""

    async def step() -> bool:
        return await send_due(res.sessionmaker, deps) >= BATCH  # a full batch: more may be due

    interval = deps.settings.webhook_poll_interval_seconds
    await Worker(name="webhook sender", step=step, poll_seconds=interval).run()


async def send_due(sessionmaker: async_sessionmaker[AsyncSession], deps: AuthDeps) -> int:
    """One round: claim due deliveries, attempt each (concurrently), record the outcomes."""
    lease = dt.timedelta(seconds=deps.settings.webhook_timeout_seconds * 3)
    async with sessionmaker() as session, session.begin():
        due = await egress_repository.claim_due(session, now=deps.now(), lease=lease, limit=BATCH)
    await asyncio.gather(*(_attempt(sessionmaker, deps, row) for row in due))
    return len(due)


async def _attempt(sessionmaker: async_sessionmaker[AsyncSession], deps: AuthDeps, row: Row[Any]) -> None:
    attempt = int(row.attempts) + 1
    body = json.dumps(row.envelope, separators=(",", ":"))
    headers = webhook_rules.signed_headers(
        secret=deps.cipher.decrypt(row.secret_ciphertext), message_id=str(row.id), body=body, now=deps.now()
    )
    status_code, error = None, None
    started = time.perf_counter()
    try:
        answer = await deps.http.post(
            row.url, content=body, headers=headers, timeout=deps.settings.webhook_timeout_seconds
        )
        status_code = answer.status_code
        if not webhook_rules.succeeded(status_code):
            error = f"answered {status_code}: {answer.text[:200]}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    duration_ms = int((time.perf_counter() - started) * 1000)
    await _record(sessionmaker, deps, row, attempt, status_code, error, duration_ms)


async def _record(
    sessionmaker: async_sessionmaker[AsyncSession],
    deps: AuthDeps,
    row: Row[Any],
    attempt: int,
    status_code: int | None,
    error: str | None,
    duration_ms: int,
) -> None:
    delay = (
        None
        if error is None
        else webhook_rules.next_delay(attempt, deps.settings.webhook_retry_schedule_seconds)
    )
    status = "succeeded" if error is None else ("pending" if delay is not None else "failed")
    next_at = deps.now() + dt.timedelta(seconds=delay) if delay is not None else None
    async with sessionmaker() as session, session.begin():
        await egress_repository.record_attempt(
            session,
            delivery_id=str(row.id),
            attempt=attempt,
            status_code=status_code,
            error=error,
            duration_ms=duration_ms,
            status=status,
            next_attempt_at=next_at,
        )
    if error is not None:
        log.info(
            "webhook delivery failed",
            extra={"delivery_id": str(row.id), "attempt": attempt, "status": status},
        )
