"""The rules of imports from QBO limited to entities and a creation date range."""

from __future__ import annotations

from datetime import UTC, datetime

from services.webhooks import service


def test_an_import_by_date_asks_qbo_for_objects_created_in_the_range() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = datetime(2026, 3, 31, 23, 59, tzinfo=UTC)

    assert service.import_where("Invoice", start, end) == (
        "MetaData.CreateTime >= '2026-01-01T00:00:00+00:00' AND "
        "MetaData.CreateTime <= '2026-03-31T23:59:00+00:00'"
    )
    assert service.import_where("Customer", None, end).startswith(
        "Active in (true, false) AND MetaData.CreateTime <="
    )
    assert service.import_where("Customer") == "Active in (true, false)"
    assert service.narrowed(None, None, None) is False
    assert service.narrowed(["Invoice"], None, None) is True
    assert service.import_entities(None) == service.IMPORT_ENTITIES
    assert "Nonsense" in (service.import_refusal(["Invoice", "Nonsense"], None, None) or "")
    assert service.import_refusal([], end, start) == "created_from is after created_to"
    assert service.import_refusal(["Invoice"], start, end) is None
