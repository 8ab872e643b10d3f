"""Fixtures every test may use: real Postgres, RabbitMQ and the sandbox, found or started."""

from __future__ import annotations

from typing import Any

import pytest

pytest_plugins = ["tests.helpers.infra", "tests.helpers.sandbox"]

E2E = "tests/e2e/"


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under ``pytest -n N --dist loadgroup`` (``make test``) the end-to-end tests go to one worker,
    so their stack of four services and the console starts once, not once per worker; the other
    tests are spread one by one. (pytest-xdist's own grouping by ``xdist_group`` marks renames node
    ids, which pytest 9.2 no longer allows: the marks were silently ignored.)"""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling  # type: ignore[import-untyped]

    class EndToEndTogether(LoadGroupScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return "e2e" if nodeid.startswith(E2E) else nodeid

    return EndToEndTogether(config, log)
