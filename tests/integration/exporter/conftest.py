"""Fixtures of the exporter tests: the sandbox, a stand-in for auth's token endpoint, the broker."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from aio_pika.abc import AbstractChannel
from sqlalchemy.ext.asyncio import AsyncEngine

from services.exporter import handlers
from shared.db import create_engine
from tests.helpers.broker import broker_channel, delete_namespace
from tests.integration.exporter.kit import FakeAuth, running_fake_auth

pytestmark = pytest.mark.integration


@pytest.fixture
async def sandbox(sandbox_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=30) as client:
        yield client


@pytest.fixture
async def auth(sandbox_url: str) -> AsyncIterator[FakeAuth]:
    async with running_fake_auth(sandbox_url) as fake:
        yield fake


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, application_name="qbb-tests", pool_size=2)
    yield engine
    await engine.dispose()


@pytest.fixture
async def channel(amqp_url: str, namespace: str) -> AsyncIterator[AbstractChannel]:
    async with broker_channel(amqp_url) as (_, ch):
        yield ch
    await delete_namespace(amqp_url, namespace, [handlers.router])
