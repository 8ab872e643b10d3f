"""Golden mapping tests: a platform event in, the exact QBO commands out (US, GB, CA and AU companies).

Regenerate after a deliberate change with ``QBB_UPDATE_GOLDEN=1 uv run pytest tests/unit/mapper`` and
review the diff of ``golden/``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from services.mapper import service
from shared.contracts import CATALOGUE, PLATFORM_EVENTS
from tests.unit.mapper import companies as c
from tests.unit.mapper.events import golden_events, variant_events

GOLDEN = Path(__file__).parent / "golden"
COUNTRIES = ("US", "GB", "CA", "AU")
CASES = [(country, event_type) for country in COUNTRIES for event_type in PLATFORM_EVENTS]
VARIANTS = [(country, name) for country in COUNTRIES for name in variant_events("US")]


def test_every_platform_event_has_a_golden_case() -> None:
    assert set(golden_events("US")) == set(PLATFORM_EVENTS)


@pytest.mark.parametrize(("country", "event_type"), CASES)
def test_platform_event_maps_to_the_golden_qbo_commands(country: str, event_type: str) -> None:
    assert_golden(country, event_type, event_type, golden_events(country)[event_type])


@pytest.mark.parametrize(("country", "name"), VARIANTS)
def test_an_event_mode_maps_to_its_golden_qbo_commands(country: str, name: str) -> None:
    event_type, data = variant_events(country)[name]
    assert_golden(country, name, event_type, data)


def assert_golden(country: str, name: str, event_type: str, raw: dict[str, object]) -> None:
    ctx = c.context(country)
    data = CATALOGUE[event_type].model.model_validate(raw)
    commands = service.plan(
        event_type,
        data,
        target=ctx.target,
        settings=ctx.settings,
        reference=ctx.reference,
        source_event_id="evt-1",
    )

    produced = [cmd.model_dump(mode="json", exclude_none=True) for cmd in commands]
    path = GOLDEN / f"{country.lower()}_{name.replace('.', '_')}.json"
    if os.environ.get("QBB_UPDATE_GOLDEN"):
        path.write_text(json.dumps(produced, indent=2, sort_keys=True) + "\n")
    assert produced == json.loads(path.read_text())
