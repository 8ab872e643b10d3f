"""Fixtures of the platform-layer tests: an engine on the test database, a clean testkit, cleanup."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import create_engine
from tests.helpers import testkit
from tests.helpers.broker import delete_namespace
from tests.helpers.running import reset_testkit

pytestmark = pytest.mark.integration


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, application_name="qbb-tests", pool_size=2)
    await reset_testkit(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def clean_namespace(amqp_url: str, namespace: str) -> AsyncIterator[str]:
    yield namespace
    await delete_namespace(amqp_url, namespace, [testkit.router])
