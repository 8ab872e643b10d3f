"""The dry run's verdicts: the write path's own decisions (``service.plan``) said in words."""

from __future__ import annotations

import datetime as dt
from typing import Any

from services.exporter import service
from tests.unit.exporter.test_service import job, request

NOW = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
PARTY = {"$link": {"entity": "Customer", "platform_id": "cus_1"}}


def invoice_job(**overrides: Any) -> service.Job:
    match = {"field": "DocNumber", "value": "INV-9", "party_field": "CustomerRef", "party": PARTY}
    req = request(match=match | overrides.pop("match", {}), **overrides)
    return service.preview_job(req, now=NOW)


def found_invoice(customer: str, total: str = "100.00") -> dict[str, Any]:
    return {"Id": "130", "DocNumber": "INV-9", "CustomerRef": {"value": customer}, "TotalAmt": total}


def judged(j: service.Job, *, ids: dict[Any, str], found: dict[str, Any] | None) -> service.Verdict:
    return service.verdict(service.plan(j, link=None, ids=ids, matches={}, found=found))


def test_an_invoice_qbo_has_by_number_for_the_same_customer_and_total_is_a_link() -> None:
    j = invoice_job(match={"total": "100.00"})

    verdict = judged(j, ids={("Customer", "cus_1"): "58"}, found=found_invoice("58"))

    assert (verdict.action, verdict.qbo_id) == ("link", "130")
    assert "DocNumber 'INV-9', the same customer" in verdict.reason


def test_an_invoice_number_another_customer_uses_is_refused_as_the_write_path_refuses_it() -> None:
    verdict = judged(invoice_job(), ids={("Customer", "cus_1"): "58"}, found=found_invoice("77"))

    assert verdict.action == "reject"
    assert "already used in QuickBooks by Invoice 130" in verdict.reason


def test_a_new_invoice_of_a_customer_not_written_yet_is_a_create_after_it() -> None:
    verdict = judged(invoice_job(), ids={}, found=None)

    assert (verdict.action, verdict.qbo_id) == ("create", None)
    assert "waiting for Customer cus_1" in verdict.reason


def test_a_create_of_an_object_the_bridge_already_wrote_is_an_update_of_it() -> None:
    link = {"qbo_id": "58", "sync_token": "2", "event_time": None, "fingerprint": None, "doc_number": None}
    planned = service.plan(job(payload={"DisplayName": "ACME"}), link=link, ids={}, matches={})

    verdict = service.verdict(planned)

    assert (verdict.action, verdict.qbo_id) == ("update", "58")
    assert service.planned_id(planned) == "58"


def test_a_second_create_of_an_object_an_earlier_write_creates_is_an_update() -> None:
    planned = service.plan(job(payload={"DisplayName": "NEWCO"}), link=None, ids={}, matches={})

    assert service.verdict(planned).action == "create"
    assert service.verdict(planned, created_before=True).action == "update"
