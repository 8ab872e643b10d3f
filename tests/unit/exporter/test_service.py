"""The exporter's pure rules: request ids, symbolic links, dependencies, retries, batching."""

from __future__ import annotations

import random

import pytest

from services.exporter import service
from services.exporter.service import Job, Unlinked
from shared.contracts.internal import ExportRequested
from shared.errors import RetryableError


def request(**overrides: object) -> ExportRequested:
    values: dict[str, object] = {
        "connection_id": "conn-1",
        "realm_id": "r1",
        "entity": "Invoice",
        "operation": "create",
        "payload": {"CustomerRef": {"$link": {"entity": "Customer", "platform_id": "cus_1"}}},
        "source_event_id": "evt-1",
        "platform_id": "inv_1",
        **overrides,
    }
    return ExportRequested.model_validate(values)


def job(**overrides: object) -> Job:
    values: dict[str, object] = {
        "id": "j1",
        "connection_id": "c",
        "realm_id": "r",
        "tenant_id": "t",
        "entity": "Customer",
        "operation": "create",
        "object_type": "customer",
        "platform_id": "p",
        "source_event_id": "e",
        "requestid": "rid",
        "match_field": None,
        "match_value": None,
        "payload": {},
        "attempts": 1,
        "in_doubt": False,
        **overrides,
    }
    return Job(**values)  # type: ignore[arg-type]


def test_the_request_id_is_stable_for_the_same_source_event_and_short_enough_for_a_batch() -> None:
    a = service.request_id(source_event_id="e", entity="Invoice", platform_id="p", operation="create")
    b = service.request_id(source_event_id="e", entity="Invoice", platform_id="p", operation="create")
    other = service.request_id(source_event_id="e", entity="Invoice", platform_id="p", operation="update")
    assert a == b != other
    assert len(a) <= 36


def test_symbolic_links_are_dependencies_alongside_depends_on_once_each() -> None:
    deps = service.dependencies(
        request(
            depends_on=[
                {"entity": "Customer", "platform_id": "cus_1"},
                {"entity": "Item", "platform_id": "i"},
            ]
        )
    )
    assert deps == [{"entity": "Customer", "platform_id": "cus_1"}, {"entity": "Item", "platform_id": "i"}]


def test_links_are_replaced_by_the_qbo_id_anywhere_in_the_payload() -> None:
    payload = {
        "CustomerRef": {"$link": {"entity": "Customer", "platform_id": "cus_1"}},
        "Line": [{"SalesItemLineDetail": {"ItemRef": {"$link": {"entity": "Item", "platform_id": "i"}}}}],
        "DocNumber": "1",
    }
    resolved = service.resolve_links(payload, {("Customer", "cus_1"): "58", ("Item", "i"): "7"})
    assert resolved == {
        "CustomerRef": {"value": "58"},
        "Line": [{"SalesItemLineDetail": {"ItemRef": {"value": "7"}}}],
        "DocNumber": "1",
    }


def test_an_unlinked_reference_says_which_object_is_missing() -> None:
    with pytest.raises(Unlinked) as caught:
        service.resolve_links({"CustomerRef": {"$link": {"entity": "Customer", "platform_id": "x"}}}, {})
    assert caught.value.key == ("Customer", "x")


@pytest.mark.parametrize(
    ("connection", "unmet", "expected"),
    [
        ("active", [], ("queued", None)),
        (None, [], ("queued", None)),
        ("active", [{"entity": "Customer", "platform_id": "c"}], ("parked", "dependency")),
        ("revoked", [], ("parked", "connection")),
        ("reauthorization_required", [{"entity": "Customer", "platform_id": "c"}], ("parked", "connection")),
    ],
)
def test_a_new_job_waits_for_its_connection_and_its_dependencies(
    connection: str | None, unmet: list[dict[str, str]], expected: tuple[str, str | None]
) -> None:
    status, reason, _ = service.initial_status(connection_status=connection, unmet=unmet)
    assert (status, reason) == expected


def test_retry_delays_follow_the_schedule_with_bounded_jitter() -> None:
    rng = random.Random(1)
    delays = [service.retry_delay(n, (1.0, 10.0), jitter=0.2, rng=rng) for n in (1, 2, 3)]
    assert 0.8 <= delays[0] <= 1.2
    assert 8.0 <= delays[1] <= 12.0
    assert 8.0 <= delays[2] <= 12.0


def test_only_writes_a_lookup_can_resolve_go_in_batches() -> None:
    assert service.batchable(job(operation="create", match_value="Acme"))
    assert service.batchable(job(operation="update"))
    assert not service.batchable(job(operation="create"))
    assert not service.batchable(job(operation="void"))


def test_an_adopted_object_is_reported_as_a_link_unless_it_was_our_own_lost_write() -> None:
    assert service.reported_operation(job(), found_existing=True) == "link"
    assert service.reported_operation(job(in_doubt=True), found_existing=True) == "create"


def test_updates_are_sparse_with_id_and_sync_token() -> None:
    body = service.update_body({"CompanyName": "X"}, qbo_id="5", sync_token="3")
    assert body == {"CompanyName": "X", "Id": "5", "SyncToken": "3", "sparse": True}


def test_batches_hold_at_most_thirty_items() -> None:
    assert [len(c) for c in service.chunks(list(range(65)), 30)] == [30, 30, 5]


def test_a_create_sent_as_an_update_is_reported_as_one_but_a_list_delete_stays_a_delete() -> None:
    assert service.write_operation(job(operation="create"), "update") == "update"
    assert service.write_operation(job(operation="create"), "create") == "create"
    assert service.write_operation(job(operation="delete"), "update") == "delete"


def test_a_link_marked_as_id_becomes_the_bare_id() -> None:
    payload = {
        "Line": [
            {
                "LinkedTxn": [
                    {
                        "TxnId": {"$link": {"entity": "Invoice", "platform_id": "inv_1", "as": "id"}},
                        "TxnType": "Invoice",
                    }
                ]
            }
        ]
    }
    resolved = service.resolve_links(payload, {("Invoice", "inv_1"): "129"})
    assert resolved == {"Line": [{"LinkedTxn": [{"TxnId": "129", "TxnType": "Invoice"}]}]}


def test_a_match_link_is_resolved_by_its_match_key_ignoring_case() -> None:
    link = {"$link": {"entity": "Invoice", "match": {"field": "DocNumber", "value": "INV-7"}, "as": "id"}}
    assert list(service.match_refs({"x": [link]})) == [("Invoice", "DocNumber", "INV-7")]
    assert list(service.link_refs({"x": [link]})) == []
    assert service.resolve_links({"x": [link]}, {}, {("Invoice", "DocNumber", "inv-7"): "88"}) == {
        "x": ["88"]
    }


def test_a_match_link_qbo_does_not_know_is_retryable_and_names_the_number() -> None:
    link = {"$link": {"entity": "Invoice", "match": {"field": "DocNumber", "value": "INV-7"}}}
    with pytest.raises(service.Unmatched, match="no Invoice with DocNumber 'INV-7'") as caught:
        service.resolve_links({"x": link}, {}, {})
    assert isinstance(caught.value, RetryableError)
