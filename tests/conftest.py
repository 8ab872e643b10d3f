"""Fixtures every test may use: real Postgres, RabbitMQ and the sandbox, found or started."""

from pathlib import Path

pytest_plugins = ["tests.helpers.infra"]
if (Path(__file__).parent / "helpers" / "sandbox.py").exists():  # TEMP until the sandbox lands
    pytest_plugins.append("tests.helpers.sandbox")
