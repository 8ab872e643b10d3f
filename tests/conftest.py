"""Fixtures every test may use: real Postgres, RabbitMQ and the sandbox, found or started."""

from pathlib import Path

import pytest

pytest_plugins = ["tests.helpers.infra", "tests.helpers.sandbox"]

E2E = Path(__file__).parent / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under ``pytest -n N --dist loadgroup`` (``make test``) the end-to-end tests share one worker:
    their stack of four services and the console is started once, not once per worker."""
    for item in items:
        if item.path.is_relative_to(E2E):
            item.add_marker(pytest.mark.xdist_group("e2e"))
