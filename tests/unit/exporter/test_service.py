"""The exporter's pure rules: request ids, symbolic links, dependencies, retries, batching."""

from __future__ import annotations

import datetime as dt
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
        "created_at": dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
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
    found: dict[service.MatchKey, list[service.Found]] = {("Invoice", "DocNumber", "inv-7"): [("88", "5")]}
    assert service.resolve_links({"x": [link]}, {}, found) == {"x": ["88"]}


def test_a_match_link_with_a_party_takes_only_that_partys_document() -> None:
    party = {"$link": {"entity": "Customer", "platform_id": "cus_1"}}
    match = {"field": "DocNumber", "value": "1001", "party": party}
    link = {"$link": {"entity": "Invoice", "match": match, "as": "id"}}
    found: dict[service.MatchKey, list[service.Found]] = {
        ("Invoice", "DocNumber", "1001"): [("40", "9"), ("41", "5")]
    }
    links = {("Customer", "cus_1"): "5"}
    assert service.resolve_links({"x": link}, links, found) == {"x": "41"}
    with pytest.raises(service.Unmatched):
        service.resolve_links({"x": link}, {("Customer", "cus_1"): "6"}, found)


def _doc_job(**overrides: object) -> Job:
    match = {"field": "DocNumber", "value": "1001", "party_field": "CustomerRef", "total": "100.00"}
    return job(entity="Invoice", match_field="DocNumber", match_value="1001", match=match, **overrides)


def test_a_document_found_by_number_is_adopted_only_if_it_is_the_same_customers_with_the_same_total() -> None:
    ours = {"Id": "40", "CustomerRef": {"value": "5", "name": "ACME"}, "TotalAmt": 100.0}
    assert service.adoption_refusal(_doc_job(), ours, party_id="5") is None
    stranger = {"Id": "41", "CustomerRef": {"value": "9", "name": "Globex"}, "TotalAmt": 100.0}
    refusal = service.adoption_refusal(_doc_job(), stranger, party_id="5")
    assert refusal is not None
    assert refusal.code == "doc_number_in_use"
    assert "41" in refusal.message
    assert "Globex" in refusal.message
    assert "another customer's" in refusal.message
    other_total = {**ours, "TotalAmt": 99.0}
    assert service.adoption_refusal(_doc_job(), other_total, party_id="5") is not None
    # Our own write whose reply was lost: the total may be QBO's rounding of ours, the party decides.
    assert service.adoption_refusal(_doc_job(in_doubt=True), other_total, party_id="5") is None


def test_a_list_object_found_by_name_is_adopted_as_it_is() -> None:
    found = {"Id": "7", "DisplayName": "ACME"}
    assert (
        service.adoption_refusal(job(match={"field": "DisplayName", "value": "ACME"}), found, party_id=None)
        is None
    )


def test_an_event_older_than_the_last_one_applied_is_superseded() -> None:
    t = dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC)
    assert service.superseded(job(event_time=t), t + dt.timedelta(seconds=1))
    assert not service.superseded(job(event_time=t), t)
    assert not service.superseded(job(event_time=t), None)


def test_an_unchanged_list_object_is_not_written_again_but_a_document_always_is() -> None:
    body = {"DisplayName": "ACME", "PrimaryEmailAddr": {"Address": "a@b.example"}}
    same = service.fingerprint({"PrimaryEmailAddr": {"Address": "a@b.example"}, "DisplayName": "ACME"})
    assert service.unchanged(job(entity="Customer"), body, same)
    assert not service.unchanged(job(entity="Customer"), {**body, "DisplayName": "ACME 2"}, same)
    assert not service.unchanged(job(entity="Customer"), body, None)
    assert not service.unchanged(job(entity="Invoice"), body, same)


def test_a_wait_that_ends_says_what_it_waited_for() -> None:
    void = job(entity="Invoice", operation="void", park_reason="create")
    assert service.absent_outcome(void) == "skipped"
    assert service.absent_outcome(job(entity="Invoice", operation="update")) == "failed"
    assert "never reached QuickBooks" in service.expired_problem(void, None).message
    dependency = service.expired_problem(
        job(park_reason="dependency"), "waiting for Invoice inv_9 to be in QuickBooks"
    )
    assert dependency.code == "wait_expired"
    assert "Invoice inv_9" in dependency.message


def test_a_match_link_qbo_does_not_know_is_retryable_and_names_the_number() -> None:
    link = {"$link": {"entity": "Invoice", "match": {"field": "DocNumber", "value": "INV-7"}}}
    with pytest.raises(service.Unmatched, match="no Invoice with DocNumber 'INV-7'") as caught:
        service.resolve_links({"x": link}, {}, {})
    assert isinstance(caught.value, RetryableError)


def test_only_a_list_objects_create_has_repeats_that_end_with_it() -> None:
    """The customer every invoice ensures may be repeated; a document is written once each, and an
    update or a delete is never the same write again."""
    assert service.may_be_repeated(job(entity="Customer", operation="create"))
    assert service.may_be_repeated(job(entity="Item", operation="create"))
    assert not service.may_be_repeated(job(entity="Invoice", operation="create"))
    assert not service.may_be_repeated(job(entity="Customer", operation="update"))
    assert not service.may_be_repeated(job(entity="Customer", operation="delete"))


def test_a_jobs_outcomes_name_the_history_lane_only_for_a_history_write() -> None:
    assert job(history=True).lane == "history"
    assert job().lane is None
