"""The wire contracts: typed data for every event, money and dates as the contract says, clear errors."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from shared.contracts import CATALOGUE, InvalidMessage, decode_data, decode_envelope
from shared.contracts.envelope import Envelope
from shared.contracts.platform import InvoiceApproved

ARCHITECTURE_EVENTS = {
    "customer.upserted",
    "vendor.upserted",
    "item.upserted",
    "invoice.approved",
    "invoice.updated",
    "invoice.voided",
    "credit_note.issued",
    "credit_note.voided",
    "payment.recorded",
    "refund.issued",
    "bill.approved",
    "bill.updated",
    "bill.cancelled",
    "purchase_order.approved",
    "purchase_order.updated",
    "purchase_order.cancelled",
    "sync.succeeded",
    "sync.failed",
    "sync.rejected",
    "qbo.payment.received",
    "connection.established",
    "connection.profile_changed",
    "connection.reauthorization_required",
    "connection.revoked",
    "qbo.export.requested",
    "qbo.invoice.changed",
    "qbo.customer.changed",
}


def invoice(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "invoice_id": "inv_1",
        "number": "INV-1",
        "issue_date": "2026-11-21",
        "due_date": "2026-12-21",
        "currency": "GBP",
        "customer": {"code": "ACME"},
        "lines": [
            {
                "description": "Consulting",
                "quantity": "2",
                "unit_price": "50.00",
                "amount": "100.00",
                "tax_rate": "20% VAT",
                "class": "Consulting",
            }
        ],
    }
    return data | overrides


def envelope(type_: str, data: dict[str, Any]) -> Envelope:
    return Envelope.new(type_, data, tenant_id="t1", source="test")


def problems(type_: str, data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InvalidMessage) as caught:
        decode_data(envelope(type_, data))
    return {p.path: p.message for p in caught.value.problems}


def test_every_event_of_the_architecture_catalogue_has_a_typed_model() -> None:
    assert set(CATALOGUE) >= ARCHITECTURE_EVENTS


def test_an_invoice_decodes_money_as_decimal_and_dates_as_dates() -> None:
    decoded = decode_data(envelope("invoice.approved", invoice()))
    assert isinstance(decoded, InvoiceApproved)
    assert decoded.lines[0].amount == Decimal("100.00")
    assert decoded.lines[0].class_ == "Consulting"
    assert decoded.issue_date.isoformat() == "2026-11-21"


def test_unknown_fields_are_ignored() -> None:
    decoded = decode_data(envelope("invoice.approved", invoice(colour="blue")))
    assert not hasattr(decoded, "colour")


def test_money_as_a_json_number_is_refused_with_its_path() -> None:
    found = problems("invoice.approved", invoice(lines=[{"amount": 100.5}]))
    assert "money must be a decimal string" in found["$.data.lines[0].amount"]


@pytest.mark.parametrize("bad", ["21/11/2026", "2026-11-21T10:00:00Z", 1700000000, "2026-02-30"])
def test_a_date_that_is_not_iso_yyyy_mm_dd_is_refused(bad: object) -> None:
    found = problems("invoice.approved", invoice(issue_date=bad))
    assert "YYYY-MM-DD" in found["$.data.issue_date"]


def test_every_missing_or_invalid_field_is_reported_with_its_json_path() -> None:
    data = invoice(lines=[{"quantity": "-1", "amount": "x"}], customer={}, due_date="2026-01-01")
    del data["invoice_id"]
    found = problems("invoice.approved", data)
    assert set(found) >= {
        "$.data.invoice_id",
        "$.data.customer.code",
        "$.data.lines[0].quantity",
        "$.data.lines[0].amount",
    }


def test_a_due_date_before_the_issue_date_is_refused_in_words() -> None:
    found = problems("invoice.approved", invoice(due_date="2026-01-01"))
    assert any("due_date is before issue_date" in message for message in found.values())


def test_a_payment_applying_more_than_its_amount_is_refused() -> None:
    data = {
        "payment_id": "p1",
        "date": "2026-11-21",
        "amount": "10.00",
        "customer": {"code": "ACME"},
        "applied_to": [{"invoice_id": "i1", "amount": "10.01"}],
    }
    found = problems("payment.recorded", data)
    assert any("more than the payment amount" in message for message in found.values())


def test_an_envelope_round_trips_through_json() -> None:
    original = envelope("invoice.approved", invoice())
    assert decode_envelope(original.to_json_bytes()) == original


@pytest.mark.parametrize(
    ("body", "summary"),
    [
        (b"\xff", "malformed JSON"),
        (b"[1]", "not a CloudEvents envelope"),
        (b'{"specversion": "0.3", "id": "1", "source": "s", "type": "t"}', "invalid CloudEvents envelope"),
    ],
)
def test_a_broken_envelope_is_refused_with_a_summary(body: bytes, summary: str) -> None:
    with pytest.raises(InvalidMessage, match=summary):
        decode_envelope(body)


def test_a_caused_event_inherits_tenant_realm_and_correlation() -> None:
    cause = Envelope.new("invoice.approved", invoice(), tenant_id="t1", realm_id="9130")
    effect = Envelope.new("sync.succeeded", {}, cause=cause)
    grandchild = Envelope.new("sync.succeeded", {}, cause=effect)
    assert (effect.tenantid, effect.realmid, effect.causationid) == ("t1", "9130", cause.id)
    assert grandchild.correlation_id == cause.id
