"""Sandbox throughput: single-entity creates/s and batch-of-30 requests/s (limits off, no latency).

Run: uv run python bench/sandbox_bench.py [--creates 4000] [--batches 300] [--concurrency 50]

The load is driven over plain keep-alive HTTP/1.1 connections: httpx's pool costs ~3 ms per request
and degrades with concurrency, so with it the benchmark would measure the client, not the sandbox.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers.sandbox import connect, create_app, create_company, start_sandbox, stop_sandbox

REDIRECT_URI = "http://localhost:9999/callback"


class Connection:
    """One keep-alive HTTP/1.1 connection that sends a POST and reads the reply by Content-Length."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, url: str) -> Connection:
        parsed = urlparse(url)
        reader, writer = await asyncio.open_connection(parsed.hostname, parsed.port)
        return cls(reader, writer, parsed.netloc)

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{head}\r\n".encode()
            + body
        )
        status_line = await self.reader.readuntil(b"\r\n")
        length = 0
        while (line := await self.reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return int(status_line.split()[1])

    def close(self) -> None:
        self.writer.close()


async def _run_many(url: str, total: int, concurrency: int, make_call: Any) -> tuple[float, int]:
    """Run `total` calls over `concurrency` connections; returns (seconds, failures)."""
    counter = iter(range(total))
    failures = 0
    connections = [await Connection.open(url) for _ in range(concurrency)]

    async def worker(connection: Connection) -> None:
        nonlocal failures
        for index in counter:
            status = await make_call(connection, index)
            failures += status != 200

    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in connections))
    elapsed = time.perf_counter() - started
    for connection in connections:
        connection.close()
    return elapsed, failures


def _cpu_seconds(server: psutil.Process) -> float:
    times = server.cpu_times()
    return float(times.user + times.system)


async def bench(
    url: str, server: psutil.Process, *, creates: int, batches: int, concurrency: int
) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        realm_id = await create_company(client, seed="minimal")
        app = await create_app(client, redirect_uris=[REDIRECT_URI])
        tokens = await connect(client, app=app, realm_id=realm_id, redirect_uri=REDIRECT_URI)
        headers = {"Authorization": f"Bearer {tokens['access_token']}", "Accept": "application/json"}
        base = f"/v3/company/{realm_id}"
        run_id = uuid.uuid4().hex[:6]

    async def create_one(connection: Connection, index: int) -> int:
        body = json.dumps({"DisplayName": f"Bench {run_id} {index}"}).encode()
        return await connection.post(f"{base}/customer?minorversion=75", body, headers)

    async def batch_one(connection: Connection, index: int) -> int:
        items = [
            {
                "bId": f"b{i}",
                "operation": "create",
                "Customer": {"DisplayName": f"Batch {run_id} {index}-{i}"},
            }
            for i in range(30)
        ]
        return await connection.post(
            f"{base}/batch?minorversion=75", json.dumps({"BatchItemRequest": items}).encode(), headers
        )

    await _run_many(url, 300, concurrency, lambda c, i: create_one(c, creates + i))  # warm-up
    cpu_before = _cpu_seconds(server)
    create_seconds, create_failures = await _run_many(url, creates, concurrency, create_one)
    cpu_creates = _cpu_seconds(server) - cpu_before
    batch_seconds, batch_failures = await _run_many(url, batches, min(concurrency, 20), batch_one)
    cpu_batches = _cpu_seconds(server) - cpu_before - cpu_creates
    # Per server CPU-second figures do not move when other work shares the machine.
    return {
        "creates": creates,
        "creates_per_second": round(creates / create_seconds, 1),
        "creates_per_server_cpu_second": round(creates / cpu_creates, 1),
        "create_failures": create_failures,
        "batches": batches,
        "batches_per_second": round(batches / batch_seconds, 1),
        "batches_per_server_cpu_second": round(batches / cpu_batches, 1),
        "batch_failures": batch_failures,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "concurrency": concurrency,
        "cpu_count": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--creates", type=int, default=4000)
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    url, process = start_sandbox("--no-limits")
    try:
        result = asyncio.run(
            bench(
                url,
                psutil.Process(process.pid),
                creates=args.creates,
                batches=args.batches,
                concurrency=args.concurrency,
            )
        )
    finally:
        stop_sandbox(process)
    print(json.dumps(result, indent=2))
    r = result
    print(
        f"| sandbox | {r['creates_per_second']} creates/s ({r['creates_per_server_cpu_second']}/CPU-s) "
        f"| {r['batches_per_second']} batches of 30/s ({r['batches_per_server_cpu_second']}/CPU-s) "
        f"| {r['concurrency']} in flight | load {r['load_average_1m']} |"
    )


if __name__ == "__main__":
    main()
