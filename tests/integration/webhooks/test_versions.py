"""What the webhooks service remembers of each object's version: a round's objects in one statement."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from services.webhooks import repository
from services.webhooks.service import Version
from shared.db import create_engine
from tests.helpers.statements import compiled_each_time, counting_statements

pytestmark = pytest.mark.integration


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, application_name="qbb-tests", pool_size=2)
    yield engine
    await engine.dispose()


async def test_a_rounds_objects_are_remembered_in_one_statement_and_only_newer_versions_win(
    engine: AsyncEngine,
) -> None:
    """The echoes of a round of our own writes were remembered one statement each."""
    realm = f"realm-{uuid.uuid4().hex[:10]}"
    now = dt.datetime.now(dt.UTC)
    older, newer = Version(0, now - dt.timedelta(hours=1)), Version(1, now)
    sessions = async_sessionmaker(engine)
    async with sessions() as session, session.begin():
        first = await repository.record_versions(
            session,
            realm_id=realm,
            seen=[
                ("Customer", "1", None, False),
                ("Customer", "2", newer, False),
                ("Invoice", "3", None, False),
            ],
        )
    with counting_statements(("INSERT INTO webhooks.entity_states",), on=engine.sync_engine) as statements:
        async with sessions() as session, session.begin():
            second = await repository.record_versions(
                session,
                realm_id=realm,
                seen=[
                    ("Customer", "1", newer, False),
                    ("Customer", "2", older, False),
                    ("Invoice", "3", None, True),
                ],
            )

    assert first == {("Customer", "1"), ("Customer", "2"), ("Invoice", "3")}  # never seen before
    assert second == {("Customer", "1"), ("Invoice", "3")}  # an older version loses; a deletion wins
    assert sum(statements.values()) == 1


async def test_what_a_round_remembers_is_written_with_statements_compiled_once_not_for_each_round(
    engine: AsyncEngine,
) -> None:
    """Versions, own writes and document links went in multi-row inserts with no cache key, compiled
    afresh by SQLAlchemy every round; now one cached statement each, whatever the number of rows."""
    realm, connection = f"realm-{uuid.uuid4().hex[:10]}", f"conn-{uuid.uuid4().hex[:10]}"
    now = dt.datetime.now(dt.UTC)
    sessions = async_sessionmaker(engine)
    with compiled_each_time(on=engine.sync_engine) as compiled:
        for size in (1, 3):
            ids = [uuid.uuid4().hex[:8] for _ in range(size)]
            async with sessions() as session, session.begin():
                newer = await repository.record_versions(
                    session, realm_id=realm, seen=[("Invoice", i, Version(0, now), False) for i in ids]
                )
                await repository.record_own_writes(
                    session, writes=[repository.OwnWrite(connection, "Invoice", i, 0) for i in ids]
                )
                await repository.record_document_links(
                    session,
                    links=[repository.DocumentLink(connection, "Invoice", i, f"inv-{i}") for i in ids],
                )
            async with sessions() as session:
                created = await repository.own_creations(
                    session, connection_ids=[connection], keys=[("Invoice", i) for i in ids]
                )
                linked = await repository.platform_ids(
                    session, connection_id=connection, entity="Invoice", qbo_ids=ids
                )
            assert newer == {("Invoice", i) for i in ids}
            assert created == {(connection, "Invoice", i) for i in ids}
            assert linked == {i: f"inv-{i}" for i in ids}

    assert dict(compiled) == {}
