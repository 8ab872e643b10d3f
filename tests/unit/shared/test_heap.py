"""A serving process settles its heap once it has started (shared/runtime.py)."""

from __future__ import annotations

import subprocess
import sys

from shared import runtime


def test_once_started_a_service_freezes_what_start_up_built_and_collects_its_young_less_often() -> None:
    # In a process of its own: the collector's settings are the whole process's.
    probe = (
        "import gc\n"
        "from shared import runtime\n"
        "before = gc.get_freeze_count()\n"
        "runtime._settle_the_heap()\n"
        "print(before, gc.get_freeze_count(), *gc.get_threshold())\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    before, frozen, young, *older = (int(n) for n in done.stdout.split())
    assert before == 0
    assert frozen > 10_000  # the modules, settings and statements loaded so far
    assert young == runtime.GC_YOUNG_THRESHOLD
    assert older == [10, 10]  # the older generations keep Python's defaults
