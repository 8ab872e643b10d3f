"""What the mapper announces to the read path of a settings document it stored earlier."""

from __future__ import annotations

from services.mapper import service


def test_a_stored_document_is_announced_with_its_categories_and_version() -> None:
    stored = {"categories": {"vendors": {"direction": "both", "start_date": "2026-01-01"}}}

    announced = service.stored_read_path_settings("conn-1", 4, stored)

    assert announced is not None
    assert (announced.connection_id, announced.version) == ("conn-1", 4)
    assert announced.categories["vendors"].direction == "both"
    assert str(announced.categories["vendors"].start_date) == "2026-01-01"
    assert announced.categories["customers"].direction == "to_qbo"  # absent: the default


def test_a_stored_document_that_is_no_longer_valid_settings_is_not_announced() -> None:
    stored = {"categories": {"customers": {"direction": "sideways"}}}

    assert service.stored_read_path_settings("conn-1", 2, stored) is None
