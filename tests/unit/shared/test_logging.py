"""Log lines are JSON with the work's context, and never carry a token."""

from __future__ import annotations

import json
import logging

from shared.logging import JsonFormatter, log_context


def render(message: str, **extra: object) -> dict[str, object]:
    record = logging.getLogger("t").makeRecord("t", logging.INFO, __file__, 1, message, (), None, extra=extra)
    return dict(json.loads(JsonFormatter("qbb-test").format(record)))


def test_a_log_line_carries_the_context_it_was_written_in() -> None:
    with log_context(event_id="e1", tenant_id="acme", realm_id=None):
        line = render("handled", attempt=2)
    assert line["event_id"] == "e1"
    assert line["tenant_id"] == "acme"
    assert "realm_id" not in line
    assert line["attempt"] == 2
    assert line["service"] == "qbb-test"


def test_token_bearing_fields_are_masked() -> None:
    line = render("refreshed", access_token="eyJhbGciOi.secret", refresh_token="AB11")
    assert line["access_token"] == "***"
    assert line["refresh_token"] == "***"


def test_context_ends_with_its_block() -> None:
    with log_context(event_id="e1"):
        pass
    assert "event_id" not in render("after")
