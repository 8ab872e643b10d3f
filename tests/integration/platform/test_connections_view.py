"""A service's view of connections follows the newest connection event, whatever order they arrive in."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from services.exporter import models
from shared.connections import apply_connection_event, connection_status
from shared.contracts.internal import CompanyProfile, ConnectionEstablished, ConnectionRevoked
from shared.db import create_engine, create_sessionmaker

pytestmark = pytest.mark.integration

T0 = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)
PROFILE = CompanyProfile(name="Acme", country="GB", home_currency="GBP", edition="QuickBooks Online Plus")


async def test_a_late_established_event_does_not_revive_a_revoked_connection(database_url: str) -> None:
    connection_id = str(uuid.uuid4())
    ids = {"connection_id": connection_id, "tenant_id": "t-late", "realm_id": "9130"}
    engine = create_engine(database_url, application_name="qbb-tests", pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            t = models.connections
            first = await apply_connection_event(session, t, ConnectionRevoked(**ids), occurred_at=T0)
            late = await apply_connection_event(
                session,
                t,
                ConnectionEstablished(**ids, company=PROFILE),
                occurred_at=T0 - dt.timedelta(seconds=5),
            )
            stored = await connection_status(session, t, connection_id=connection_id)
            newer = await apply_connection_event(
                session,
                t,
                ConnectionEstablished(**ids, company=PROFILE),
                occurred_at=T0 + dt.timedelta(seconds=5),
            )
    finally:
        await engine.dispose()

    assert (first, late, stored) == ("revoked", "revoked", "revoked")
    assert newer == "active"
