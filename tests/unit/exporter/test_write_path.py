"""The decisions of one export round (services/exporter/service.py): which write, batch or not,
what an answer comes to, and retry, park or fail."""

from __future__ import annotations

import datetime as dt
import functools
import random
from typing import Any

import pytest

from services.exporter import service
from services.exporter.service import Job
from shared.errors import ParkedError, PermanentError
from shared.qbo.errors import QboError, QboFault, QboUnavailable, error_for
from shared.worker import backoff_delay

POLICY = service.RetryPolicy(delays=(1.0, 5.0), jitter=0.0, throttle_pause=60.0)


def job(**overrides: Any) -> Job:
    values: dict[str, Any] = {
        "id": "j1",
        "connection_id": "c",
        "realm_id": "r",
        "tenant_id": "t",
        "entity": "Invoice",
        "operation": "create",
        "object_type": "invoice",
        "platform_id": "inv_1",
        "source_event_id": "e",
        "requestid": "rid",
        "match_field": "DocNumber",
        "match_value": "1001",
        "payload": {
            "DocNumber": "1001",
            "CustomerRef": {"$link": {"entity": "Customer", "platform_id": "cus"}},
        },
        "attempts": 1,
        "in_doubt": False,
        "created_at": dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
        **overrides,
    }
    return Job(**values)


def link(qbo_id: str = "42", **overrides: Any) -> dict[str, Any]:
    return {
        "qbo_id": qbo_id,
        "sync_token": "3",
        "event_time": None,
        "fingerprint": None,
        "doc_number": None,
        **overrides,
    }


def fault(code: str) -> QboFault:
    return QboFault(code, "m", "", "", 400, None, {})


IDS = {("Customer", "cus"): "7"}


def test_a_first_create_of_a_known_customers_invoice_needs_no_lookup_only_the_write() -> None:
    invoice = job()
    assert not service.looks_up_first(invoice)
    planned = service.plan(invoice, link=None, ids=IDS, matches={})
    assert isinstance(planned, service.Write)
    assert (planned.operation, planned.body["CustomerRef"]) == ("create", {"value": "7"})


def test_a_create_in_doubt_or_of_an_entity_that_takes_duplicates_looks_its_match_key_up_first() -> None:
    assert service.looks_up_first(job(in_doubt=True))
    assert service.looks_up_first(job(entity="Bill"))  # QBO takes a second bill with the same number
    assert not service.looks_up_first(job(match_field=None, match_value=None, in_doubt=True))
    assert not service.looks_up_first(job(operation="update", in_doubt=True))


def test_a_create_refused_as_a_duplicate_leads_to_the_lookup_and_other_faults_do_not() -> None:
    assert service.duplicate_refused(service.Errored(job(), error_for(fault("6140"))))
    assert service.duplicate_refused(service.Errored(job(entity="Customer"), error_for(fault("6240"))))
    assert not service.duplicate_refused(service.Errored(job(), error_for(fault("6000"))))
    assert not service.duplicate_refused(service.Errored(job(match_value=None), error_for(fault("6140"))))


def test_a_found_document_of_the_same_party_and_total_is_adopted_and_reported_as_linked() -> None:
    invoice = job(
        match={
            "field": "DocNumber",
            "value": "1001",
            "party_field": "CustomerRef",
            "party": {"$link": {"entity": "Customer", "platform_id": "cus"}},
            "total": "10.00",
        }
    )
    found = {"Id": "90", "CustomerRef": {"value": "7"}, "TotalAmt": 10, "DocNumber": "1001"}
    planned = service.plan(invoice, link=None, ids=IDS, matches={}, found=found)
    assert isinstance(planned, service.Succeeded)
    assert (planned.obj["Id"], planned.operation) == ("90", "link")


def test_a_found_document_of_another_party_is_refused_not_adopted() -> None:
    invoice = job(
        match={
            "field": "DocNumber",
            "value": "1001",
            "party_field": "CustomerRef",
            "party": {"$link": {"entity": "Customer", "platform_id": "cus"}},
        }
    )
    found = {"Id": "90", "CustomerRef": {"value": "8", "name": "Other"}, "TotalAmt": 10}
    planned = service.plan(invoice, link=None, ids=IDS, matches={}, found=found)
    assert isinstance(planned, service.Errored)
    assert isinstance(planned.error, PermanentError)
    assert planned.error.code == "doc_number_in_use"


def test_a_write_naming_an_object_not_linked_yet_goes_back_to_waiting_for_it() -> None:
    planned = service.plan(job(), link=None, ids={}, matches={})
    assert isinstance(planned, service.Waits)
    assert planned.reason == "dependency"
    assert "Customer cus" in planned.note


def test_an_update_of_an_object_not_in_qbo_waits_for_its_create_or_is_skipped_unreported() -> None:
    waits = service.plan(job(operation="update"), link=None, ids=IDS, matches={})
    skipped = service.plan(job(operation="void", if_absent="skip"), link=None, ids=IDS, matches={})
    assert isinstance(waits, service.Waits)
    assert waits.reason == "create"
    assert isinstance(skipped, service.Skipped)
    assert not skipped.report


def test_an_unchanged_list_object_is_succeeded_without_a_call_and_unreported() -> None:
    customer = job(entity="Customer", payload={"DisplayName": "A"}, match_field=None, match_value=None)
    stored = link(fingerprint=service.fingerprint({"DisplayName": "A"}))
    planned = service.plan(customer, link=stored, ids={}, matches={})
    assert isinstance(planned, service.Succeeded)
    assert not planned.report


def test_a_create_of_a_linked_object_goes_as_a_sparse_update_with_its_sync_token() -> None:
    planned = service.plan(job(), link=link(), ids=IDS, matches={})
    assert isinstance(planned, service.Write)
    assert planned.operation == "update"
    assert (planned.body["Id"], planned.body["SyncToken"], planned.body["sparse"]) == ("42", "3", True)


def test_writes_waiting_for_a_realm_go_in_batches_of_thirty_and_a_lone_one_goes_alone() -> None:
    writes = [service.Write(job(id=f"j{i}"), "create", {}) for i in range(65)]
    batches, alone = service.split_batches(writes, 30)
    assert [len(b) for b in batches] == [30, 30, 5]
    assert alone == []
    batches, alone = service.split_batches(writes[:1], 30)
    assert batches == []
    assert len(alone) == 1


def test_a_create_without_a_match_key_never_goes_in_a_batch() -> None:
    keyless = service.Write(job(id="k", match_field=None, match_value=None), "create", {})
    keyed = [service.Write(job(id=f"j{i}"), "create", {}) for i in range(2)]
    batches, alone = service.split_batches([keyless, *keyed], 30)
    assert [[w.job.id for w in b] for b in batches] == [["j0", "j1"]]
    assert [w.job.id for w in alone] == ["k"]


def test_a_batch_items_answer_is_its_object_or_its_fault() -> None:
    write = service.Write(job(), "create", {})
    ok = service.batch_answer(write, {"bId": "b0", "Invoice": {"Id": "5", "SyncToken": "0"}})
    bad = service.batch_answer(write, {"bId": "b0", "Fault": {"Error": [{"code": "6000", "Message": "x"}]}})
    lost = service.batch_answer(write, None)
    assert isinstance(ok, service.Succeeded)
    assert ok.obj["Id"] == "5"
    assert isinstance(bad, service.Errored)
    assert isinstance(bad.error, QboError)
    assert bad.error.fault.code == "6000"
    assert isinstance(lost, service.Errored)
    assert isinstance(lost.error, QboError)
    assert lost.error.fault.code == "batch_item_missing"


def test_a_stale_sync_token_is_told_apart_for_one_re_read() -> None:
    assert service.is_stale(service.Errored(job(), error_for(fault("5010"))))
    assert not service.is_stale(service.Errored(job(), error_for(fault("6000"))))


def test_a_delete_in_doubt_that_qbo_says_is_gone_was_ours() -> None:
    write = service.Write(job(operation="delete", in_doubt=True), "delete", {"Id": "9", "SyncToken": "1"})
    assert isinstance(service.send_failed(write, error_for(fault("610"))), service.Succeeded)
    fresh = service.Write(job(operation="delete"), "delete", {"Id": "9", "SyncToken": "1"})
    assert isinstance(service.send_failed(fresh, error_for(fault("610"))), service.Errored)


def test_a_throttle_is_retried_after_the_pause_without_using_an_attempt() -> None:
    outcome = service.settle(job(attempts=3), error_for(fault("3001")), POLICY)
    assert isinstance(outcome, service.Retry)
    assert (outcome.delay, outcome.count, outcome.in_doubt) == (60.0, False, False)


def test_a_lost_reply_is_retried_in_doubt_on_the_schedule_then_fails_when_it_runs_out() -> None:
    lost = QboUnavailable("reply lost", outcome_unknown=True)
    first = service.settle(job(attempts=1), lost, POLICY, rng=random.Random(1))
    last = service.settle(job(attempts=3), lost, POLICY)
    assert isinstance(first, service.Retry)
    assert (first.delay, first.in_doubt, first.count) == (
        1.0,
        True,
        True,
    )
    assert isinstance(last, service.Failed)
    assert last.problem.retryable


def test_an_unusable_connection_parks_and_a_validation_fault_fails_at_once() -> None:
    parked = service.settle(
        job(), ParkedError("revoked", code="connection_revoked", hint="reconnect"), POLICY
    )
    failed = service.settle(job(), error_for(fault("6000")), POLICY)
    assert isinstance(parked, service.ParkConnection)
    assert isinstance(failed, service.Failed)
    assert failed.problem.code == "6000"


def test_an_unexpected_error_is_retried_and_described_without_its_text() -> None:
    outcome = service.settle(job(), RuntimeError("SELECT secret FROM x"), POLICY)
    assert isinstance(outcome, service.Retry)
    assert "secret" not in outcome.problem.message
    assert "RuntimeError" in outcome.problem.message


def test_a_wait_that_expires_skips_a_void_of_nothing_and_fails_anything_else() -> None:
    void = service.expired(job(operation="void", park_reason="create"), None)
    update = service.expired(job(operation="update", park_reason="create"), None)
    assert isinstance(void, service.Skipped)
    assert void.report
    assert isinstance(update, service.Failed)
    assert update.problem.code == "wait_expired"


def test_a_history_export_is_marked_for_the_history_lane() -> None:
    from tests.unit.exporter.test_service import request

    assert service.job_values(request(lane="history"), tenant_id="t", depends_on=[])["history"] is True
    assert service.job_values(request(), tenant_id="t", depends_on=[])["history"] is False


def test_a_failing_loop_backs_off_doubling_up_to_a_ceiling() -> None:
    assert [backoff_delay(n, initial=0.5, ceiling=3.0) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_a_realm_takes_another_round_only_while_each_of_its_rounds_took_a_full_batch() -> None:
    full, partial = service.Round(30), service.Round(7)
    in_flight = {
        "idle-then-full": [full],  # one full round: its backlog may go on in a second
        "two-full": [full, full],
        "three-full": [full, full, full],  # at the bound
        "partial": [partial],  # its last claim found less than a batch: one round is all it needs
        "full-and-partial": [full, service.Round(4)],
        "ended": [],
    }
    busy = service.busy_realms(in_flight, batch_size=30, rounds=3)
    assert busy == ["full-and-partial", "partial", "three-full"]
    # One round per realm: any realm being written is busy, as before there were rounds.
    assert service.busy_realms(in_flight, batch_size=30, rounds=1) == [
        "full-and-partial",
        "idle-then-full",
        "partial",
        "three-full",
        "two-full",
    ]


def test_a_realm_whose_last_claim_found_nothing_ready_beside_its_rounds_waits_for_one_to_end() -> None:
    in_flight = {"blocked": [service.Round(30)], "moving": [service.Round(30)]}
    # "blocked": its queued jobs wait for what its round is writing (invoices for a customer in it).
    busy = service.busy_realms(in_flight, batch_size=30, rounds=3, drained={"blocked", "idle"})
    assert busy == ["blocked"]  # a drained realm with no round in flight is not busy: it has none


def test_a_realm_writing_a_round_of_backfill_takes_no_other_round_until_it_ends() -> None:
    # A live write sent during a backfill must wait behind one round of history at most (issue 13).
    in_flight = {"backfilling": [service.Round(30, history=True)], "live-backlog": [service.Round(30)]}
    busy = service.busy_realms(in_flight, batch_size=30, rounds=3)
    assert busy == ["backfilling"]


def test_a_claim_takes_only_as_many_realms_as_it_has_slots_not_held_by_young_small_rounds() -> None:
    now = 100.0
    in_flight = {
        "a": [service.Round(1, started=now - 0.1), service.Round(2, started=now - 0.2)],
        "b": [service.Round(2, started=now - 0.4)],
        "slow": [service.Round(1, started=now - 7.0)],  # long in QBO or waiting out its limits
        "backlog": [service.Round(30, started=now - 0.1)],  # full: waiting would gain it nothing
    }
    room = functools.partial(service.claim_room, now=now, young=0.5, batch_size=30)
    assert room(in_flight, slots=4) == 1
    assert room(in_flight, slots=2) == 0  # never below none
    assert room({}, slots=4) == 4  # idle: every slot, so a lone invoice is claimed at once
    # Neither the slow round nor the full one holds a slot: as if they had ended.
    assert room({k: v for k, v in in_flight.items() if k in ("a", "b")}, slots=4) == 1


def test_a_claim_that_found_no_slot_knows_when_the_oldest_young_small_round_stops_holding_one() -> None:
    now = 100.0
    in_flight = {
        "a": [service.Round(1, started=now - 0.1)],
        "b": [service.Round(3, started=now - 0.4)],
        "full": [service.Round(30, started=now - 0.45)],
    }
    again = functools.partial(service.room_again, now=now, young=0.5, batch_size=30)
    assert again(in_flight) == pytest.approx(0.1)
    assert again({"slow": [service.Round(1, started=now - 3.0)], "full": in_flight["full"]}) is None
