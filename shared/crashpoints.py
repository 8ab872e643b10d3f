"""Named crash points: ``crash_point("exporter.after_write")`` SIGKILLs the process when the
``crash_points`` setting (``QBB_CRASH_POINTS``) names that point, and does nothing otherwise.

They let a fault run (``make chaos``) stop a process exactly where a crash hurts most: between a
side effect and the record of it. The setting is a comma-separated list of points, each one of

- ``name``      crash at every hit;
- ``name@0.2``  crash at a hit with that probability;
- ``name#3``    crash at the third hit of this process (and only then).

It is read once, when a service starts (``configure``); production refuses it (settings).
"""

from __future__ import annotations

import logging
import os
import random
import signal
from collections import Counter
from dataclasses import dataclass

log = logging.getLogger(__name__)

# Every point the code has; a setting naming another one is refused, so a typo is not a no-op.
POINTS = frozenset(
    {
        "exporter.after_write",  # QBO answered a write; its outcome is not recorded yet
        "consumer.after_commit",  # a message's transaction committed; the message is not acked yet
        "outbox.after_publish",  # outbox rows confirmed by the broker; not deleted yet
    }
)


@dataclass(frozen=True)
class Rule:
    """When a point crashes: with ``probability`` at each hit, or at hit number ``nth`` only."""

    probability: float = 1.0
    nth: int = 0


def parse(spec: str) -> dict[str, Rule]:
    """The rules of a ``crash_points`` setting; ``ValueError`` says what is wrong with it."""
    rules: dict[str, Rule] = {}
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        name, rule = _parse_item(item)
        if name not in POINTS:
            raise ValueError(f"unknown crash point {name!r}; known: {', '.join(sorted(POINTS))}")
        rules[name] = rule
    return rules


def _parse_item(item: str) -> tuple[str, Rule]:
    try:
        if "@" in item:
            name, probability = item.split("@", 1)
            rule = Rule(probability=float(probability))
            if not 0 < rule.probability <= 1:
                raise ValueError
            return name, rule
        if "#" in item:
            name, nth = item.split("#", 1)
            rule = Rule(nth=int(nth))
            if rule.nth < 1:
                raise ValueError
            return name, rule
    except ValueError:
        raise ValueError(
            f"crash point {item!r}: use name, name@probability (0-1] or name#n (n >= 1)"
        ) from None
    return item, Rule()


def crashes(rule: Rule, *, hit: int, draw: float) -> bool:
    """Whether hit number ``hit`` (from 1) crashes, ``draw`` being a uniform number in [0, 1)."""
    if rule.nth:
        return hit == rule.nth
    return draw < rule.probability


_rules: dict[str, Rule] = {}
_hits: Counter[str] = Counter()
_random = random.Random()


def configure(spec: str) -> None:
    """Arm the points of a ``crash_points`` setting (an empty one disarms them all)."""
    global _rules
    _rules = parse(spec)
    _hits.clear()
    if _rules:
        log.warning("crash points armed", extra={"crash_points": spec})


def crash_point(name: str) -> None:
    """Kill this process with SIGKILL here if the point ``name`` is armed and its rule says so."""
    rule = _rules.get(name)
    if rule is None:
        return
    _hits[name] += 1
    if crashes(rule, hit=_hits[name], draw=_random.random()):
        log.warning("crash point reached: SIGKILL", extra={"crash_point": name, "hit": _hits[name]})
        os.kill(os.getpid(), signal.SIGKILL)
