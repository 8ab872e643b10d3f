"""Which events are admitted: unknown tenants, blocked connections, categories, start dates."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from services.mapper import service
from services.mapper.mapping import Rejection
from services.mapper.sync_settings import SyncSettings
from shared.contracts import CATALOGUE, InvalidMessage, decode_data
from shared.contracts.envelope import Envelope
from tests.unit.mapper import companies as c


def connection(status: str = "active") -> service.Connection:
    return service.Connection("conn-1", "t1", "9130", status, c.company("US"))


def admit(
    data: dict[str, Any],
    *,
    conn: service.Connection | None,
    settings: SyncSettings | None = None,
    event_type: str = "invoice.approved",
) -> Any:
    model = CATALOGUE[event_type].model.model_validate(data)
    return service.admit(
        event_type, model, tenant_id="t1", connection=conn, settings=settings or SyncSettings()
    )


def test_unknown_tenant_is_rejected_in_words() -> None:
    with pytest.raises(Rejection) as caught:
        admit(c.invoice(), conn=None)
    assert caught.value.code == "unknown_tenant"
    assert "'t1'" in caught.value.message


@pytest.mark.parametrize(
    ("status", "code"),
    [("revoked", "connection_revoked"), ("reauthorization_required", "connection_blocked")],
)
def test_blocked_or_revoked_connection_is_rejected(status: str, code: str) -> None:
    with pytest.raises(Rejection) as caught:
        admit(c.invoice(), conn=connection(status))
    assert caught.value.code == code


def test_disabled_category_is_rejected_or_skipped_as_settings_say() -> None:
    off = SyncSettings.model_validate({"categories": {"invoices": {"enabled": False}}})
    with pytest.raises(Rejection, match="invoices category is turned off"):
        admit(c.invoice(), conn=connection(), settings=off)
    skip = SyncSettings.model_validate(
        {"categories": {"invoices": {"enabled": False, "when_excluded": "skip"}}}
    )
    with pytest.raises(service.Excluded):
        admit(c.invoice(), conn=connection(), settings=skip)


def test_event_before_the_start_date_is_rejected() -> None:
    later = SyncSettings.model_validate({"categories": {"invoices": {"start_date": "2026-12-01"}}})
    with pytest.raises(Rejection, match="before the invoices start date 2026-12-01"):
        admit(c.invoice(), conn=connection(), settings=later)


def test_direction_from_qbo_refuses_platform_events() -> None:
    back = SyncSettings.model_validate({"categories": {"customers": {"direction": "from_qbo"}}})
    with pytest.raises(Rejection, match="from QuickBooks to the platform only"):
        admit(c.customer(), conn=connection(), settings=back, event_type="customer.upserted")


def test_direction_both_admits_platform_events() -> None:
    both = SyncSettings.model_validate({"categories": {"customers": {"direction": "both"}}})
    admit(c.customer(), conn=connection(), settings=both, event_type="customer.upserted")


def invalid(data: dict[str, Any], event_type: str = "invoice.approved") -> list[tuple[str, str]]:
    envelope = Envelope.new(event_type, data, tenant_id="t1")
    with pytest.raises(InvalidMessage) as caught:
        decode_data(envelope)
    rejection = service.invalid(caught.value.summary, caught.value.problems)
    event = service.rejected(event_type, data, source_event_id=envelope.id, rejection=rejection)
    assert event.code == "invalid_event"
    return [(p["path"], p["message"]) for p in event.problems]


def test_missing_fields_are_named_by_path() -> None:
    data = c.invoice()
    del data["issue_date"], data["customer"]["code"]
    paths = [p for p, _ in invalid(data)]
    assert "$.data.issue_date" in paths
    assert "$.data.customer.code" in paths


def test_wrong_types_bad_dates_negative_quantities_and_oversize_strings_each_get_a_problem() -> None:
    data = c.invoice(
        issue_date="02/11/2026",
        number="N" * 30,
        lines=[c.sales_line(quantity="-1"), c.sales_line(amount=12.5)],
    )
    problems = dict(invalid(data))
    assert "YYYY-MM-DD" in problems["$.data.issue_date"]
    assert "$.data.number" in problems
    assert "$.data.lines[0].quantity" in problems
    assert "decimal string" in problems["$.data.lines[1].amount"]


def test_rejection_names_the_platform_object() -> None:
    data = {"invoice_id": "inv_42"}
    envelope = Envelope.new("invoice.approved", data, tenant_id="t1")
    with pytest.raises(InvalidMessage) as caught:
        decode_data(envelope)
    event = service.rejected(
        "invoice.approved",
        data,
        source_event_id=envelope.id,
        rejection=service.invalid(caught.value.summary, caught.value.problems),
    )
    assert (event.object_type, event.platform_id) == ("invoice", "inv_42")


def test_settings_refuse_unknown_keys_and_bad_values() -> None:
    with pytest.raises(ValidationError) as caught:
        SyncSettings.model_validate(
            {
                "categories": {"invoices": {"direction": "sideways"}},
                "taxes": {},
                "terms": {"by_days": {"1000": "Forever"}},
            }
        )
    locs = {tuple(e["loc"]) for e in caught.value.errors()}
    assert ("categories", "invoices", "direction") in locs
    assert ("taxes",) in locs
    assert ("terms", "by_days") in locs


def test_settings_keep_every_category_and_the_suffix_spacing() -> None:
    settings = SyncSettings.model_validate({"categories": {"bills": {"enabled": False}}})
    assert set(settings.categories) == {
        "customers",
        "vendors",
        "items",
        "invoices",
        "payments",
        "bills",
        "purchase_orders",
    }
    assert settings.vendor_name_collision_suffix == " (v)"
