"""The committed contract documents are exactly what the models generate."""

from __future__ import annotations

from pathlib import Path

import yaml

from shared.contracts import CATALOGUE, PLATFORM_EVENTS
from shared.contracts.export import render

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_committed_contract_documents_match_the_models() -> None:
    stale = [
        path
        for path, text in render().items()
        if not (DOCS / path).is_file() or (DOCS / path).read_text() != text
    ]
    assert not stale, f"run `make contract` and commit: stale or missing {stale}"


def test_asyncapi_names_every_catalogue_event_and_the_exchange() -> None:
    document = yaml.safe_load((DOCS / "asyncapi.yaml").read_text())
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert document["asyncapi"] == "3.0.0"
    assert addresses == set(CATALOGUE)
    exchanges = {c["bindings"]["amqp"]["exchange"]["name"] for c in document["channels"].values()}
    assert exchanges == {"qbo-bridge.events"}


def test_there_is_one_json_schema_per_platform_event() -> None:
    assert {p.name.removesuffix(".json") for p in (DOCS / "schemas").glob("*.json")} == set(PLATFORM_EVENTS)
