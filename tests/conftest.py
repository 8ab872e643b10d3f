"""Fixtures every test may use: real Postgres, RabbitMQ and the sandbox, found or started."""

pytest_plugins = ["tests.helpers.infra", "tests.helpers.sandbox"]
