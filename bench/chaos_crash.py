"""Crash points of ``make chaos``, one kind at a time and then mixed.

The stack itself runs with no crash point armed. Each phase starts a replica of the mapper and of
the exporter (the services where every point is on the path: both consume, both relay an outbox,
the exporter writes to QBO) with only that phase's points armed (``QBB_CRASH_POINTS``), beside
the stack's own replicas, so they take a share of the live work. A replica killed by its point is
started again (as the supervisor would) until every point of the phase has killed a process
``WANT`` times or the phase's bound has passed; then the replicas are stopped (SIGTERM) and the
next phase begins. What killed whom is read from the phase's own logs (``.run/chaos-crash-*.log``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from scripts import stack

POINTS = ("exporter.after_write", "consumer.after_commit", "outbox.after_publish")
# (phase, QBB_CRASH_POINTS): every point alone, then all of them at once. ``#n``: the nth hit of a
# process life kills it, so a replica does some work first and then dies again after its restart.
PHASES: tuple[tuple[str, str], ...] = (
    *((point, f"{point}#2") for point in POINTS),
    # Mixed: each hit of each point may kill (an nth-hit rule would let the earliest point starve the
    # others: the exporter's first write is followed by its first outcome's publish). The publish
    # comes last on both paths (after a write, after a commit) and the stack's own replicas relay
    # most rows, so it has the highest chance (at 0.5/0.15/0.3 it killed nothing in a 90 s phase
    # where the other two killed 4 times each).
    ("mixed", ",".join(f"{point}@{p}" for point, p in zip(POINTS, (0.3, 0.1, 0.6), strict=True))),
)
REPLICAS = ("mapper", "exporter")
WANT = 1  # kills per point before a phase ends early (so the mixed phase still has live work)
PHASE_SECONDS = 90.0  # a phase's bound: a point with no work left to hit is reported as such
MIXED_SECONDS = 150.0  # the mixed phase's: three points to hit, a restart (~15 s loaded) per kill


@dataclass
class CrashPhases:
    """Runs the phases; ``hits[phase][point]`` counts the processes each point killed."""

    ports: stack.Ports
    env: dict[str, str]
    run_dir: Path
    base_port: int
    hits: dict[str, dict[str, int]] = field(default_factory=dict)
    restarts: Counter[str] = field(default_factory=Counter)
    last_at: float = 0.0
    _running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def _log(self, phase: str, service: str) -> Path:
        return self.run_dir / f"chaos-crash-{phase}-{service}.log"

    def _start(self, phase: str, spec: str, index: int, service: str) -> subprocess.Popen[bytes]:
        env = {
            **stack.dev_defaults(self.ports),
            **self.env,
            "QBB_CRASH_POINTS": spec,
            "QBB_HTTP_PORT": str(self.base_port + index),
        }
        with self._log(phase, service).open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", f"services.{service}"],
                cwd=stack.ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _count(self, phase: str) -> Counter[str]:
        found: Counter[str] = Counter()
        for service in REPLICAS:
            path = self._log(phase, service)
            if not path.exists():
                continue
            for line in path.read_text(errors="replace").splitlines():
                if "crash point reached" in line:
                    found.update(p for p in POINTS if f'"{p}"' in line)
        return found

    async def run_phase(self, phase: str, spec: str) -> None:
        armed = [item.split("#")[0].split("@")[0] for item in spec.split(",")]
        for service in REPLICAS:
            self._log(phase, service).unlink(missing_ok=True)
        self._running = {s: self._start(phase, spec, i, s) for i, s in enumerate(REPLICAS)}
        deadline = time.monotonic() + (MIXED_SECONDS if phase == "mixed" else PHASE_SECONDS)
        try:
            while time.monotonic() < deadline:
                counts = self._count(phase)
                if all(counts[p] >= WANT for p in armed):
                    break
                for i, service in enumerate(REPLICAS):
                    if self._running[service].poll() is not None:  # killed at its point: again
                        self.restarts[phase] += 1
                        self._running[service] = self._start(phase, spec, i, service)
                await asyncio.sleep(0.5)
        finally:
            await asyncio.to_thread(self.stop)
            counts = self._count(phase)
            self.hits[phase] = {p: counts[p] for p in armed}
            self.last_at = time.monotonic()

    async def run(self) -> None:
        for phase, spec in PHASES:
            await self.run_phase(phase, spec)

    def stop(self) -> None:
        """SIGTERM the phase's replicas (SIGCONT first), SIGKILL what is left after 60 s."""
        for process in self._running.values():
            for sig in (signal.SIGCONT, signal.SIGTERM):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, sig)
        for process in self._running.values():
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self._running = {}

    def figures(self) -> dict[str, object]:
        return {
            "phases": {phase: spec for phase, spec in PHASES},
            "replicas": list(REPLICAS),
            "hits": self.hits,
            "restarts": dict(self.restarts),
        }
