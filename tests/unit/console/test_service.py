"""The console's view models: what a person reads, from what the services answer."""

from __future__ import annotations

import datetime as dt
from typing import Any

from services.console import service


def job(**overrides: Any) -> dict[str, Any]:
    return {
        "id": "job-1",
        "seq": 7,
        "realm_id": "9130",
        "object_type": "invoice",
        "entity": "Invoice",
        "platform_id": "inv_1",
        "operation": "create",
        "status": "succeeded",
        "attempts": 1,
        "qbo_id": "42",
        "qbo_doc_number": "INV-1",
        "updated_at": "2026-12-01T10:00:00+00:00",
        **overrides,
    }


def test_a_blocked_connection_shows_its_reason_and_no_refresh() -> None:
    view = service.connection_view(
        {
            "connection_id": "c1",
            "tenant_id": "acme",
            "status": "blocked",
            "blocked_reason": "The company's home currency is USD, not GBP.",
            "company": {"name": "Acme Ltd", "country": "GB", "multicurrency": False},
            "reconnect_url": "http://auth/v1/intuit/reconnect?realmId=1",
        }
    )
    assert view.tone == "bad"
    assert view.reasons == ["The company's home currency is USD, not GBP."]
    assert ("Multicurrency", "no") in view.profile
    assert not view.can_refresh
    assert view.reconnect_url


def test_a_revoked_connection_offers_no_reconnect_or_disconnect() -> None:
    view = service.connection_view({"connection_id": "c1", "status": "revoked", "reconnect_url": "x"})
    assert view.reconnect_url is None
    assert not view.can_disconnect
    assert view.company_name == "not connected yet"


def test_readiness_lists_blocking_checks_first() -> None:
    overall, checks = service.readiness_view(
        {
            "status": "blocking",
            "checks": [
                {"name": "currency", "status": "ok", "message": "GBP", "fix": ""},
                {"name": "tax_rate", "status": "blocking", "message": "no code", "fix": "map it"},
                {"name": "terms", "status": "warning", "message": "30 days?", "fix": "add"},
            ],
        }
    )
    assert overall == "blocking"
    assert [c.name for c in checks] == ["tax rate", "terms", "currency"]


def test_a_failed_job_says_why_how_to_fix_and_keeps_the_raw_fault() -> None:
    fault = {"Fault": {"Error": [{"code": "6240", "Message": "Duplicate Name Exists Error"}]}}
    view = service.job_view(
        job(
            status="failed",
            last_error="The name is already used.",
            hint="Rename one",
            qbo_fault=fault,
            qbo_id=None,
        ),
        sandbox_url="http://127.0.0.1:8090",
    )
    assert view.reason == "The name is already used."
    assert view.hint == "Rename one"
    assert '"6240"' in view.raw_fault
    assert view.can_retry
    assert view.qbo_link is None


def test_a_succeeded_job_links_to_its_object_in_the_sandbox_view_and_may_be_re_pushed() -> None:
    view = service.job_view(job(), sandbox_url="http://127.0.0.1:8090/")
    assert view.reason == "Written to QuickBooks (number INV-1)."
    assert view.qbo_link == f"http://127.0.0.1:8090/companies/9130/Invoice/{job()['qbo_id']}"
    assert not view.can_retry
    assert view.can_repush


def test_only_a_succeeded_create_or_update_may_be_re_pushed() -> None:
    assert not service.job_view(job(operation="void"), sandbox_url="").can_repush
    assert not service.job_view(job(status="failed"), sandbox_url="").can_repush


def test_no_sandbox_url_means_no_link() -> None:
    assert service.job_view(job(), sandbox_url="").qbo_link is None


def test_a_parked_job_says_what_it_waits_for() -> None:
    assert "reconnected" in service.job_reason(job(status="parked", park_reason="connection"))
    assert "written first" in service.job_reason(job(status="parked", park_reason="dependency"))


def test_the_filter_turns_into_the_exporters_query() -> None:
    flt = service.HistoryFilter.parse({"status": "failed", "type": "Invoice", "since": "2026-11-30"})
    assert flt.job_params() == {
        "status": "failed",
        "object_type": "invoice",
        "since": "2026-11-30T00:00:00Z",
        "before_seq": None,
        "limit": service.PAGE_SIZE,
    }
    assert not flt.wants_events


def test_rejected_asks_only_for_events_and_a_bad_filter_is_said_not_obeyed() -> None:
    rejected = service.HistoryFilter.parse({"status": "rejected"})
    assert rejected.wants_events
    assert not rejected.wants_jobs
    bad = service.HistoryFilter.parse({"status": "exploded", "since": "yesterday"})
    assert bad.status == ""
    assert bad.since is None
    assert len(bad.errors) == 2


def test_a_full_page_leads_to_the_next_one_and_keeps_the_filter() -> None:
    page = [job(seq=n) for n in range(1000, 1000 - service.PAGE_SIZE, -1)]
    following = service.next_before_seq(page)
    assert following == 1000 - service.PAGE_SIZE + 1
    flt = service.HistoryFilter.parse({"status": "succeeded"})
    assert flt.query(before_seq=following) == f"status=succeeded&before_seq={following}"
    assert service.next_before_seq(page[:-1]) is None


def test_rejected_events_show_their_problems_and_pass_the_type_and_date_filter() -> None:
    events: list[dict[str, Any]] = [
        {
            "event_id": "e1",
            "type": "invoice.approved",
            "platform_id": "inv_9",
            "outcome": "rejected",
            "code": "unmapped_tax_rate",
            "message": "tax rate 'California' has no QBO tax code",
            "hint": "map it in settings → tax",
            "problems": [{"path": "$.data.lines[0].tax_rate", "message": "no tax code"}],
            "received_at": "2026-12-01T09:00:00Z",
        },
        {
            "event_id": "e2",
            "type": "customer.upserted",
            "outcome": "mapped",
            "received_at": "2026-12-01T09:00:00Z",
        },
        {
            "event_id": "e3",
            "type": "invoice.approved",
            "outcome": "mapped",
            "received_at": "2026-11-01T09:00:00Z",
        },
    ]
    flt = service.HistoryFilter.parse({"type": "invoice", "since": "2026-11-15"})
    [shown] = service.events_shown(events, flt)
    assert shown.event_id == "e1"
    assert shown.tone == "bad"
    assert shown.problems == [("$.data.lines[0].tax_rate", "no tax code")]


def test_times_read_in_utc() -> None:
    assert service.when("2026-12-01T21:00:00+01:00") == "2026-12-01 20:00:00 UTC"
    assert service.when(None) == ""
    assert service.when(dt.datetime(2026, 1, 2, tzinfo=dt.UTC).isoformat()) == "2026-01-02 00:00:00 UTC"


def test_an_import_in_progress_is_not_done() -> None:
    running = service.import_view({"job_id": "i1", "kind": "import", "status": "running", "published": 12})
    finished = service.import_view({"job_id": "i1", "status": "done", "finished_at": "2026-12-01T10:00:00Z"})
    assert (running.done, running.published, running.tone) == (False, 12, "info")
    assert (finished.done, finished.tone) == (True, "ok")


def test_a_backfill_counts_every_settled_line_out_of_all() -> None:
    view = service.batch_view(
        {"batch_id": "b1", "total": 5, "pending": 2, "succeeded": 2, "failed": 0, "rejected": 1}
    )
    assert (view.settled, view.total, view.done) == (3, 5, False)
    assert view.summary == "2 succeeded, 0 failed, 1 rejected, 2 pending"


def test_only_ids_safe_in_a_path_are_taken_as_tenant_or_batch_ids() -> None:
    assert service.is_tenant_id("acme_42-x")
    assert not service.is_tenant_id("../auth")
    assert not service.is_batch_id("a/b")
    assert not service.is_batch_id("")


def test_dead_letter_queues_without_messages_are_left_out_and_a_failure_says_why() -> None:
    body = {
        "queues": [
            {"queue": "mapper.platform-events", "count": 3, "messages": [{"message_id": "m1"}]},
            {"queue": "mapper.connections", "count": 0, "messages": []},
        ]
    }
    shown = service.dead_letter_section("mapper", body, problem="")
    assert [q.queue for q in shown.queues] == ["mapper.platform-events"]
    assert (shown.total, shown.queues[0].more) == (3, 2)
    failed = service.dead_letter_section("auth", None, problem="HTTP 503")
    assert (failed.problem, failed.queues) == ("HTTP 503", [])


def test_a_revoked_key_is_not_live() -> None:
    assert service.key_view({"key_id": "k1", "created_at": "2026-12-01T10:00:00Z"}).live
    revoked = {"key_id": "k1", "created_at": "2026-12-01T10:00:00Z", "revoked_at": "2026-12-01T11:00:00Z"}
    assert not service.key_view(revoked).live
