"""``make test-stress``: the whole suite several times in a row on a machine made busy on purpose.

One core is kept busy by a CPU hog and the local broker holds a few hundred idle queues
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
import signal
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
CHILD_CLEANUP_SECONDS = 120
BROKER_STEP_SECONDS = 30.0


@dataclass(frozen=True)
class Failure:
    run: int
    test: str
    seconds: float
    message: str


def _hog() -> None:  # pragma: no cover - runs in a child process
    # The parent ends it (terminate); a Ctrl-C at the terminal is the parent's to handle.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
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
        with interrupts_deferred():
            for hog in hogs:
                hog.terminate()
                hog.join(timeout=5)
                if hog.is_alive():
                    hog.kill()


async def _declare_idle_queues(url: str, prefix: str, count: int, *, queue_type: str) -> None:
    # A plain connection with bounded steps: a robust one reconnects forever if the broker stalls.
    async with asyncio.timeout(BROKER_STEP_SECONDS * (1 + count / 50)):
        connection = await aio_pika.connect(url, timeout=BROKER_STEP_SECONDS)
        try:
            channel = await connection.channel()
            for i in range(count):
                await channel.declare_queue(
                    f"{prefix}{i}", durable=True, arguments={"x-queue-type": queue_type}
                )
        finally:
            await connection.close()


async def _delete_queues(url: str, prefix: str, count: int) -> None:
    async with asyncio.timeout(BROKER_STEP_SECONDS * (1 + count / 50)):
        connection = await aio_pika.connect(url, timeout=BROKER_STEP_SECONDS)
        try:
            channel = await connection.channel()
            for i in range(count):
                await channel.queue_delete(f"{prefix}{i}")  # deleting a queue never declared is fine
        finally:
            await connection.close()


@contextlib.contextmanager
def idle_queues(count: int, *, queue_type: str = "classic") -> Iterator[None]:
    """``count`` idle queues on the local broker for the duration of the block.

    Classic by default: 300 idle *quorum* queues stalled this shared broker's new connections for
    everyone on a busy 2-core machine (a Raft group each); ``--queue-type quorum`` asks for them.
    """
    found = find_broker()
    if found is None or count == 0:
        yield
        return
    prefix = f"stress{uuid.uuid4().hex[:8]}.idle."
    try:
        # Inside the try: a Ctrl-C halfway through declaring still deletes what was declared.
        asyncio.run(_declare_idle_queues(found.url, prefix, count, queue_type=queue_type))
        yield
    finally:
        with interrupts_deferred():
            asyncio.run(_delete_queues(found.url, prefix, count))


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """A second Ctrl-C (or SIGTERM) while cleaning up must not leave the queues or the hog behind."""
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class Terminated(KeyboardInterrupt):
    """SIGTERM (a CI timeout, ``kill``): cleaned up like a Ctrl-C, which the child did not get."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated(f"signal {signum}")


def run_pytest(command: list[str]) -> int:
    """One pytest run; on Ctrl-C it gets time to clean up its own databases, queues and services."""
    child = subprocess.Popen(command, cwd=ROOT)
    try:
        return child.wait()
    except KeyboardInterrupt as stop:
        with interrupts_deferred():
            if isinstance(stop, Terminated):
                child.send_signal(signal.SIGINT)  # pytest's own Ctrl-C: it tears its fixtures down
            try:
                child.wait(timeout=CHILD_CLEANUP_SECONDS)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        raise


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


OWN_OPTIONS = ("--runs", "--hog-cores", "--idle-queues", "--queue-type", "-h", "--help")


def split_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """(this script's options, everything else in its order for pytest: paths, ``-q``, ``-k expr``)."""
    own: list[str] = []
    passed: list[str] = []
    words = iter(argv)
    for word in words:
        name = word.split("=", 1)[0]
        if name not in OWN_OPTIONS:
            passed.append(word)
            continue
        own.append(word)
        if "=" not in word and name not in ("-h", "--help"):
            own.append(next(words, ""))
    return own, passed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--hog-cores", type=int, default=1)
    parser.add_argument("--idle-queues", type=int, default=300)
    parser.add_argument("--queue-type", choices=("classic", "quorum"), default="classic")
    own, passed = split_args(sys.argv[1:])
    args = parser.parse_args(own)
    args.pytest_args = passed
    signal.signal(signal.SIGTERM, _terminate)  # a CI timeout cleans up like a Ctrl-C
    all_failures: list[Failure] = []
    out = Path(tempfile.mkdtemp(prefix="qbb-stress-"))
    started = time.monotonic()
    with idle_queues(args.idle_queues, queue_type=args.queue_type), cpu_hog(args.hog_cores):
        for run in range(1, args.runs + 1):
            report = out / f"run{run}.xml"
            t0 = time.monotonic()
            run_pytest(
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    "-q",
                    "-p",
                    "no:cacheprovider",
                    f"--junitxml={report}",
                    *args.pytest_args,
                ]
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
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the with-blocks above have removed the hog and the idle queues
        print("stress: interrupted; the CPU hog and the idle queues are gone", file=sys.stderr)
        sys.exit(130)
