"""``make test-stress``: the whole suite several times in a row on a machine made busy on purpose.

One core is kept busy by a CPU hog and the local broker holds a few hundred idle quorum queues
(what leftovers of other runs once did to CI), so a test whose outcome depends on timing or on
the machine's load shows itself here rather than in the one CI run that decides a landing.
Every run's results are read from pytest's JUnit XML; the report lists each test that failed in
any run, with its duration and first line of failure. The hog and the queues are removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import subprocess
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aio_pika

from shared.infra import find_broker

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Failure:
    run: int
    test: str
    seconds: float
    message: str


def _hog() -> None:  # pragma: no cover - runs in a child process
    while True:
        pass


@contextlib.contextmanager
def cpu_hog(cores: int) -> Iterator[None]:
    """``cores`` processes spinning at 100 % until the block ends."""
    hogs = [multiprocessing.Process(target=_hog, daemon=True) for _ in range(cores)]
    for hog in hogs:
        hog.start()
    try:
        yield
    finally:
        for hog in hogs:
            hog.terminate()
            hog.join(timeout=5)


async def _declare_idle_queues(url: str, prefix: str, count: int) -> None:
    connection = await aio_pika.connect_robust(url)
    try:
        channel = await connection.channel()
        for i in range(count):
            await channel.declare_queue(f"{prefix}{i}", durable=True, arguments={"x-queue-type": "quorum"})
    finally:
        await connection.close()


async def _delete_queues(url: str, prefix: str, count: int) -> None:
    connection = await aio_pika.connect_robust(url)
    try:
        channel = await connection.channel()
        for i in range(count):
            await channel.queue_delete(f"{prefix}{i}")
    finally:
        await connection.close()


@contextlib.contextmanager
def idle_queues(count: int) -> Iterator[None]:
    """``count`` idle quorum queues on the local broker for the duration of the block."""
    found = find_broker()
    if found is None or count == 0:
        yield
        return
    prefix = f"stress{uuid.uuid4().hex[:8]}.idle."
    asyncio.run(_declare_idle_queues(found.url, prefix, count))
    try:
        yield
    finally:
        asyncio.run(_delete_queues(found.url, prefix, count))


def failures(report: Path, run: int) -> tuple[int, list[Failure]]:
    """(tests run, failed or errored tests) of one JUnit XML report."""
    if not report.exists():
        return 0, [Failure(run, "<the run itself>", 0.0, "pytest wrote no report")]
    root = ET.parse(report).getroot()  # noqa: S314 - our own pytest's output
    found, total = [], 0
    for case in root.iter("testcase"):
        total += 1
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is not None:
            name = f"{case.get('classname', '')}::{case.get('name', '')}"
            text = (problem.get("message") or problem.text or "").strip().splitlines()
            found.append(Failure(run, name, float(case.get("time") or 0), text[0][:200] if text else ""))
    return total, found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--hog-cores", type=int, default=1)
    parser.add_argument("--idle-queues", type=int, default=300)
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest (e.g. a test path)")
    args = parser.parse_args()
    all_failures: list[Failure] = []
    out = Path(tempfile.mkdtemp(prefix="qbb-stress-"))
    started = time.monotonic()
    with idle_queues(args.idle_queues), cpu_hog(args.hog_cores):
        for run in range(1, args.runs + 1):
            report = out / f"run{run}.xml"
            t0 = time.monotonic()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    "-q",
                    "-p",
                    "no:cacheprovider",
                    f"--junitxml={report}",
                    *args.pytest_args,
                ],
                cwd=ROOT,
                check=False,
            )
            total, failed = failures(report, run)
            all_failures += failed
            print(f"stress: run {run}: {total} tests, {len(failed)} failed, {time.monotonic() - t0:.0f} s")
    print(f"\nstress: {args.runs} runs in {time.monotonic() - started:.0f} s, reports in {out}")
    if not all_failures:
        print(f"stress: every test passed in every run ({args.runs} green runs)")
        return 0
    print("stress: tests that failed in some run:")
    for f in all_failures:
        print(f"  run {f.run}  {f.seconds:7.1f} s  {f.test}\n      {f.message}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
