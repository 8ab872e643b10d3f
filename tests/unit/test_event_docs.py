"""The README's event table names every event a platform sends or receives (issue 15: docs stay true)."""

from __future__ import annotations

from pathlib import Path

from shared.contracts.catalogue import CATALOGUE, CHANGED_ENTITIES, changed_type

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_lists_every_platform_and_bridge_event() -> None:
    readme = (ROOT / "README.md").read_text()
    changed = {changed_type(e): e for e in CHANGED_ENTITIES}
    missing = [
        name
        for name, row in CATALOGUE.items()
        if row.audience != "internal"
        and f"`{name}`" not in readme
        and not (name in changed and f"`{changed[name]}`" in readme)
    ]
    assert missing == []


def test_the_mapper_readme_lists_every_platform_event() -> None:
    readme = (ROOT / "services" / "mapper" / "README.md").read_text()
    missing = [n for n, row in CATALOGUE.items() if row.audience == "platform" and f"`{n}`" not in readme]
    assert missing == []
