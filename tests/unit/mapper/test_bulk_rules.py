"""The pure rules of history in bulk: a batch's progress, and what a dry run says a write would do."""

from __future__ import annotations

from typing import Any

from services.mapper import service
from shared.contracts.internal import ExportRequested, Match
from tests.unit.mapper import companies as c


def command(
    entity: str, operation: str = "create", match: Match | None = None, **extra: Any
) -> ExportRequested:
    return ExportRequested(
        connection_id="conn-1",
        realm_id="realm-1",
        entity=entity,
        operation=operation,
        match=match,
        payload={},
        source_event_id="evt-1",
        platform_id=extra.pop("platform_id", "p-1"),
        object_type=extra.pop("object_type", entity.lower()),
    )


def test_the_exporter_decides_a_mapped_event_and_skipped_counts_as_done() -> None:
    groups = [
        (None, None, 2),  # not taken up yet
        (None, "waiting", 1),
        (None, "mapped", 3),
        ("succeeded", "mapped", 4),
        ("failed", "mapped", 1),
        (None, "rejected", 2),
        (None, "skipped", 1),
    ]

    progress = service.batch_progress(total=16, rejected_lines=2, groups=groups)

    assert progress == {
        "total": 16,
        "pending": 6,
        "succeeded": 5,
        "failed": 1,
        "rejected": 4,
        "done": False,
    }
    assert service.batch_progress(total=1, rejected_lines=1, groups=[])["done"] is True


def test_a_create_of_a_customer_the_mirror_has_is_a_link_to_it() -> None:
    acme = c.entity("Customer", {"Id": "41", "DisplayName": "ACME"})
    reference = c.reference("US", acme)
    writes = [command("Customer", match=Match(field="DisplayName", value="acme"))]

    step = service.dry_run_step("customer.upserted", writes, reference, imported=True)

    assert (step.action, step.entity, step.qbo_id) == ("link", "Customer", "41")
    assert "DisplayName matches" in step.reason


def test_a_document_is_created_unless_qbo_has_its_number_which_the_dry_run_cannot_see() -> None:
    party = Match(field="DocNumber", value="INV-9", party_field="CustomerRef")
    writes = [
        command("Customer", match=Match(field="DisplayName", value="NEWCO"), platform_id="cus_1"),
        command("Invoice", match=party, object_type="invoice"),
    ]

    step = service.dry_run_step("invoice.approved", writes, c.reference("US"), imported=False)

    assert (step.action, step.entity, step.qbo_id) == ("create", "Invoice", None)
    assert "DocNumber 'INV-9'" in step.reason
    assert "create Customer 'cus_1'" in step.reason
    assert "still being imported" in step.reason


def test_an_update_or_void_says_update() -> None:
    step = service.dry_run_step(
        "invoice.voided", [command("Invoice", "void", object_type="invoice")], c.reference(), imported=True
    )

    assert (step.action, step.entity) == ("update", "Invoice")
    assert step.reason.startswith("void of the QuickBooks Invoice")


def test_a_bulk_lines_commands_go_in_the_history_lane_and_others_stay_live() -> None:
    commands = [command("Customer"), command("Invoice")]

    assert [c.lane for c in service.in_lane(commands, history=True)] == ["history", "history"]
    assert [c.lane for c in service.in_lane(commands, history=False)] == ["live", "live"]
