"""The pure rules of history in bulk: a batch's progress, and what a dry run says a write would do."""

from __future__ import annotations

from typing import Any

from services.mapper import service
from shared.contracts.internal import ExportRequested, Match


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


def test_a_lines_plan_is_its_own_objects_verdict_with_the_other_writes_named() -> None:
    writes = [
        command("Customer", platform_id="cus_1"),
        command("Invoice", match=Match(field="DocNumber", value="INV-9"), object_type="invoice"),
    ]
    verdicts = [
        service.PlanStep("link", "Customer", "41", "QuickBooks already has Customer 41"),
        service.PlanStep("create", "Invoice", None, "a new Invoice"),
    ]

    step = service.dry_run_step("invoice.approved", writes, verdicts, imported=False)

    assert (step.action, step.entity, step.qbo_id) == ("create", "Invoice", None)
    assert "link Customer 41 'cus_1'" in step.reason
    assert "still being imported" in step.reason


def test_a_line_is_refused_when_a_write_it_needs_would_be() -> None:
    writes = [command("Customer", platform_id="cus_1"), command("Invoice", object_type="invoice")]
    verdicts = [
        service.PlanStep("reject", "Customer", None, "name in use by a vendor"),
        service.PlanStep("create", "Invoice", None, "a new Invoice"),
    ]

    step = service.dry_run_step("invoice.approved", writes, verdicts, imported=True)

    assert (step.action, step.entity) == ("reject", "Invoice")
    assert "Customer 'cus_1': name in use by a vendor" in step.reason


def test_a_line_without_writes_has_nothing_to_write() -> None:
    step = service.dry_run_step("customer.upserted", [], [], imported=True)

    assert (step.action, step.reason) == ("update", "nothing to write in QuickBooks")


def test_a_bulk_lines_commands_go_in_the_history_lane_and_others_stay_live() -> None:
    commands = [command("Customer"), command("Invoice")]

    assert [cmd.lane for cmd in service.in_lane(commands, history=True)] == ["history", "history"]
    assert [cmd.lane for cmd in service.in_lane(commands, history=False)] == ["live", "live"]
