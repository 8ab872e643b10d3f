"""The committed contract documents are exactly what the models generate."""

from __future__ import annotations

import json
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


def _properties(event_type: str) -> set[str]:
    """The data fields an event's published JSON Schema documents."""
    schema = json.loads((DOCS / "schemas" / f"{event_type}.json").read_text())
    data = schema["$defs"][schema["properties"]["data"]["$ref"].rsplit("/", 1)[-1]]
    return set(data["properties"])


def test_the_accounting_fields_are_published_in_the_schemas() -> None:
    # Optional fields platforms rely on for multicurrency, locations on purchases and inventory items.
    for event_type in ("payment.recorded", "refund.issued", "bill_payment.recorded"):
        assert "exchange_rate" in _properties(event_type), event_type
    for event_type in ("bill.approved", "bill.updated", "purchase_order.approved", "purchase_order.updated"):
        assert "location" in _properties(event_type), event_type
    inventory = {"quantity_on_hand", "inventory_start_date", "asset_account", "purchase_cost"}
    assert inventory <= _properties("item.upserted")
