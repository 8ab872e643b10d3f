"""Both of Intuit's webhook formats read into the same changes; anything else named precisely."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.webhooks.payloads import MalformedPayload, canonical_entity, parse_body, parse_time

LEGACY = {
    "eventNotifications": [
        {
            "realmId": "9341452968123456",
            "dataChangeEvent": {
                "entities": [
                    {
                        "name": "Invoice",
                        "id": "1043",
                        "operation": "Create",
                        "lastUpdated": "2025-09-08T20:52:31.657Z",
                    },
                    {
                        "name": "Customer",
                        "id": "58",
                        "operation": "Merge",
                        "lastUpdated": "2025-09-08T20:52:40.000Z",
                        "deletedId": "61",
                    },
                ]
            },
        },
        {
            "realmId": "4620816365179422850",
            "dataChangeEvent": {
                "entities": [
                    {
                        "name": "Vendor",
                        "id": "12",
                        "operation": "Update",
                        "lastUpdated": "2015-10-05T14:42:19-0700",
                    }
                ]
            },
        },
    ]
}
CLOUDEVENTS = [
    {
        "specversion": "1.0",
        "id": "88cd52aa-33b6-4351-9aa4-47572edbd068",
        "source": "intuit.abc",
        "type": "qbo.billpayment.voided.v1",
        "datacontenttype": "application/json",
        "time": "2025-09-10T21:31:25.179851517Z",
        "intuitentityid": "1043",
        "intuitaccountid": "9341452968123456",
        "data": {},
    }
]


def test_legacy_body_gives_one_change_per_entity_with_its_realm() -> None:
    fmt, changes = parse_body(json.dumps(LEGACY).encode())
    assert fmt == "legacy"
    assert [(c.realm_id, c.entity, c.qbo_id, c.operation) for c in changes] == [
        ("9341452968123456", "Invoice", "1043", "Create"),
        ("9341452968123456", "Customer", "58", "Merge"),
        ("4620816365179422850", "Vendor", "12", "Update"),
    ]
    assert changes[1].deleted_id == "61"
    assert changes[2].occurred_at == datetime(2015, 10, 5, 14, 42, 19, tzinfo=timezone(timedelta(hours=-7)))


def test_cloudevents_body_maps_type_to_entity_and_operation() -> None:
    fmt, changes = parse_body(json.dumps(CLOUDEVENTS).encode())
    assert fmt == "cloudevents"
    (change,) = changes
    assert (change.entity, change.operation, change.qbo_id, change.realm_id) == (
        "BillPayment",
        "Void",
        "1043",
        "9341452968123456",
    )
    assert change.event_id == CLOUDEVENTS[0]["id"]


def test_the_same_change_has_the_same_key_and_another_change_another() -> None:
    _, first = parse_body(json.dumps(LEGACY).encode())
    _, again = parse_body(json.dumps(LEGACY, indent=2).encode())
    assert [c.dedup_key() for c in first] == [c.dedup_key() for c in again]
    assert len({c.dedup_key() for c in first}) == 3


def test_cloudevents_are_deduplicated_on_their_id() -> None:
    retried = [{**CLOUDEVENTS[0], "time": "2025-09-10T21:40:00Z"}]
    _, (a,) = parse_body(json.dumps(CLOUDEVENTS).encode())
    _, (b,) = parse_body(json.dumps(retried).encode())
    assert a.dedup_key() == b.dedup_key()


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"not json", "not JSON"),
        (b'{"something": []}', "eventNotifications"),
        (b'[{"specversion": "1.0", "type": "other.thing"}]', "[0].type"),
        (b'{"eventNotifications": [{"realmId": "1"}]}', "eventNotifications[0]"),
        (b"\xff\xfe", "not JSON"),
        (b"[" * 5000 + b"]" * 5000, "not JSON within limits"),
    ],
)
def test_malformed_bodies_name_the_problem(body: bytes, problem: str) -> None:
    with pytest.raises(MalformedPayload) as caught:
        parse_body(body)
    assert problem in str(caught.value)


def test_entity_names_come_back_in_intuits_spelling() -> None:
    assert canonical_entity("purchaseorder") == "PurchaseOrder"
    assert canonical_entity("Invoice") == "Invoice"
    assert canonical_entity("drop table") is None


def test_times_in_intuits_spellings_are_aware() -> None:
    assert parse_time("2025-09-10T21:31:25Z") == datetime(2025, 9, 10, 21, 31, 25, tzinfo=UTC)
    assert parse_time("garbage") is None
