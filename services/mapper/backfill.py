"""``python -m services.mapper backfill FILE.ndjson --tenant T [--dry-run]``: a history file through
the bulk API (architecture §5b), with a progress bar and a summary table. A client of the public
HTTP API only: it runs anywhere the mapper is reachable."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx

CHUNK = 10_000
NDJSON = {"Content-Type": "application/x-ndjson"}


@dataclass
class Summary:
    """What a backfill did (or, dry, would do): counts, and every rejected line with its reason."""

    counts: Counter[str] = field(default_factory=Counter)
    rejected: list[tuple[int, str]] = field(default_factory=list)
    batches: list[str] = field(default_factory=list)


def chunks(path: Path, tenant: str, size: int = CHUNK) -> Iterator[list[tuple[int, bytes]]]:
    """The file's non-blank lines, ``size`` at a time, with their line numbers in the file."""
    chunk: list[tuple[int, bytes]] = []
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            if raw.strip():
                chunk.append((number, with_tenant(raw.strip(), tenant)))
            if len(chunk) >= size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def with_tenant(raw: bytes, tenant: str) -> bytes:
    """The line with ``tenantid`` set when it has none (a line that is not JSON goes as it is)."""
    try:
        envelope = json.loads(raw)
    except ValueError:
        return raw
    if not isinstance(envelope, dict) or envelope.get("tenantid"):
        return raw
    return json.dumps({**envelope, "tenantid": tenant}).encode()


def _reason(problems: list[dict[str, str]]) -> str:
    return "; ".join(f"{p['path']}: {p['message']}" for p in problems)


async def _send(client: httpx.AsyncClient, chunk: list[tuple[int, bytes]], *, dry_run: bool) -> Any:
    body = b"\n".join(raw for _, raw in chunk)
    params = {"dry_run": "true"} if dry_run else {}
    answer = await client.post("/v1/events/bulk", content=body, headers=NDJSON, params=params)
    if answer.status_code not in (200, 202):
        raise SystemExit(f"the bridge refused the file ({answer.status_code}): {answer.text[:500]}")
    return answer.json()


def _take(summary: Summary, chunk: list[tuple[int, bytes]], answer: Any, *, dry_run: bool) -> None:
    numbers = [n for n, _ in chunk]
    if dry_run:
        for step in answer["plan"]:
            summary.counts[step["action"]] += 1
            if step["action"] == "reject":
                summary.rejected.append((numbers[step["line"] - 1], step["reason"]))
        return
    summary.batches.append(answer["batch_id"])
    for line in answer["rejected"]:
        summary.rejected.append((numbers[line["line"] - 1], _reason(line["problems"])))


async def _follow(client: httpx.AsyncClient, summary: Summary, *, wait_seconds: float) -> None:
    """Each batch's final counts (bounded: what is still pending after the wait is shown as such)."""
    totals: Counter[str] = Counter()
    for batch_id in summary.batches:
        state: dict[str, Any] = {}
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait_seconds):
                for _ in itertools.count():
                    state = (await client.get(f"/v1/batches/{batch_id}")).json()
                    if state.get("done"):
                        break
                    await asyncio.sleep(1.0)
        for key in ("succeeded", "failed", "rejected", "pending"):
            totals[key] += int(state.get(key, 0))
    summary.counts = totals


async def run(
    client: httpx.AsyncClient,
    path: Path,
    *,
    tenant: str,
    dry_run: bool,
    wait_seconds: float = 600.0,
    progress: TextIO | None = None,
) -> Summary:
    """Stream ``path`` through the bulk API, 10,000 lines a request, and sum up what happened."""
    summary, total = Summary(), sum(1 for raw in path.open("rb") if raw.strip())
    sent = 0
    for chunk in chunks(path, tenant):
        _take(summary, chunk, await _send(client, chunk, dry_run=dry_run), dry_run=dry_run)
        sent += len(chunk)
        if progress is not None:
            done = int(30 * sent / max(total, 1))
            progress.write(f"\r[{'#' * done}{' ' * (30 - done)}] {sent}/{total} lines")
            progress.flush()
    if progress is not None:
        progress.write("\n")
    if not dry_run:
        await _follow(client, summary, wait_seconds=wait_seconds)
    return summary


def table(summary: Summary, *, dry_run: bool) -> str:
    """The summary as a person reads it: one row per outcome, then the rejected lines and why."""
    rows = (
        ("create", "link", "update", "reject") if dry_run else ("succeeded", "failed", "rejected", "pending")
    )
    width = max(len(r) for r in rows)
    out = [f"{'would' if dry_run else 'outcome':<{width}}  count", f"{'-' * width}  -----"]
    out += [f"{r:<{width}}  {summary.counts.get(r, 0):>5}" for r in rows]
    if summary.rejected:
        out += ["", "rejected lines:"] + [f"  line {n}: {why}" for n, why in sorted(summary.rejected)]
    if summary.batches:
        out += ["", "batches: " + ", ".join(summary.batches)]
    return "\n".join(out)


def cli(argv: list[str]) -> None:
    """Entry point of ``python -m services.mapper backfill``."""
    parser = argparse.ArgumentParser(prog="python -m services.mapper backfill")
    parser.add_argument("file", type=Path)
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--url", default=os.environ.get("QBB_MAPPER_URL", "http://127.0.0.1:8092"))
    parser.add_argument("--wait", type=float, default=600.0, help="seconds to follow the batches")
    args = parser.parse_args(argv)
    key = os.environ.get("QBB_API_KEY") or os.environ.get("QBB_ADMIN_API_KEY", "dev-admin-key")
    summary = asyncio.run(_main(args, key))
    sys.stdout.write(table(summary, dry_run=args.dry_run) + "\n")


async def _main(args: argparse.Namespace, key: str) -> Summary:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=args.url, headers=headers, timeout=300) as client:
        return await run(
            client,
            args.file,
            tenant=args.tenant,
            dry_run=args.dry_run,
            wait_seconds=args.wait,
            progress=sys.stderr,
        )
