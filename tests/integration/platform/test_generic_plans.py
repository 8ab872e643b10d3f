"""The background loops' claims read only their live rows, also under a prepared statement's
generic plan.

Postgres plans a prepared statement (asyncpg prepares every one) for its parameters' values five
times, then may switch to one generic plan for any value. A generic plan cannot prove a partial
index's condition (``status = 'pending'``) from a parameter, so a claim whose status was bound
scanned the whole table, every row it ever held, each round: bench's history scenario read 140
rows of ``webhooks.changes`` per invoice beside 1,000,000 finished jobs, against none on the empty
tables. Each test forces the generic plan, as the sixth run would, and counts the rows read.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.auth import egress_repository
from services.exporter import repository as exporter_repository
from services.mapper import repository as mapper_repository
from services.webhooks import repository as webhooks_repository

HISTORY = 5_000  # finished rows: a long-running deployment has far more
# Claims take everything due, so rows other tests of this worker left behind cannot hide a test's own;
# reading only what is due is then under the count returned plus a little, and a scan is 5,000 more.
CLAIM_ALL = 10_000
BURST = 2_000  # changes waiting at once: a realm's writes of a minute, coming back together


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A transaction rolled back at the end, planning every statement as a generic plan."""
    async with AsyncSession(engine) as session, session.begin():
        await session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
        yield session
        await session.rollback()


async def rows_read(session: AsyncSession, schema: str, table: str) -> int:
    """Rows of ``schema.table`` this transaction has read so far (scans and index fetches)."""
    found = await session.execute(
        text("""SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)
                FROM pg_stat_xact_user_tables WHERE schemaname = :s AND relname = :t"""),
        {"s": schema, "t": table},
    )
    return int(found.scalar_one())


async def test_due_changes_are_claimed_without_reading_the_handled_ones(session: AsyncSession) -> None:
    tag = uuid.uuid4().hex
    await session.execute(
        text("""INSERT INTO webhooks.changes (dedup_key, realm_id, entity, qbo_id, operation, status)
                SELECT md5(:tag || n), 'r-' || :tag, 'Invoice', n::text, 'Create',
                       CASE WHEN n <= :pending THEN 'pending' ELSE 'done' END
                FROM generate_series(1, :count) n"""),
        {"tag": tag, "pending": 3, "count": HISTORY + 3},
    )
    await session.execute(text("ANALYZE webhooks.changes"))
    before = await rows_read(session, "webhooks", "changes")

    rows = await webhooks_repository.claim_due_changes(session, limit=CLAIM_ALL)

    read = await rows_read(session, "webhooks", "changes") - before
    assert len([r for r in rows if r.realm_id == f"r-{tag}"]) == 3
    assert read < len(rows) + 100, f"claiming {len(rows)} due changes read {read} rows of webhooks.changes"


async def test_a_claim_of_a_few_due_changes_reads_a_few_while_a_burst_of_them_waits(
    session: AsyncSession,
) -> None:
    """A burst of changes waiting (a realm's thousand writes of a minute coming back at once): each
    claim of a few read every due one and sorted them by id, so a burst of n cost O(n) a claim."""
    tag = uuid.uuid4().hex
    await session.execute(
        text("""INSERT INTO webhooks.changes (dedup_key, realm_id, entity, qbo_id, operation, status,
                                              next_attempt_at)
                SELECT md5(:tag || n), 'r-' || :tag, 'Invoice', n::text, 'Create',
                       CASE WHEN n <= :done THEN 'done' ELSE 'pending' END, now() - interval '1 hour'
                FROM generate_series(1, :count) n"""),
        {"tag": tag, "done": HISTORY, "count": HISTORY + BURST},
    )
    await session.execute(text("ANALYZE webhooks.changes"))
    before = await rows_read(session, "webhooks", "changes")

    rows = await webhooks_repository.claim_due_changes(session, limit=5)

    read = await rows_read(session, "webhooks", "changes") - before
    assert len(rows) == 5
    assert read < 100, f"claiming 5 of {BURST} due changes read {read} rows of webhooks.changes"


async def test_stored_webhook_bodies_are_claimed_without_reading_the_expanded_ones(
    session: AsyncSession,
) -> None:
    tag = uuid.uuid4().hex
    inserted = await session.execute(
        text("""INSERT INTO webhooks.deliveries (body_sha256, format, body, status)
                SELECT md5(:tag || n), 'cloudevents', '[]',
                       CASE WHEN n <= :received THEN 'received' ELSE 'expanded' END
                FROM generate_series(1, :count) n
                RETURNING id, status"""),
        {"tag": tag, "received": 2, "count": HISTORY + 2},
    )
    ours = {row.id for row in inserted if row.status == "received"}
    await session.execute(text("ANALYZE webhooks.deliveries"))
    before = await rows_read(session, "webhooks", "deliveries")

    rows = await webhooks_repository.claim_deliveries(session, limit=CLAIM_ALL)

    read = await rows_read(session, "webhooks", "deliveries") - before
    assert ours <= {r.id for r in rows}
    assert read < len(rows) + 100, f"claiming {len(rows)} stored bodies read {read} rows"


async def test_held_events_past_their_bound_are_taken_without_reading_every_event(
    session: AsyncSession,
) -> None:
    tag = uuid.uuid4().hex
    await session.execute(
        text("""INSERT INTO mapper.platform_events (tenant_id, event_id, type, outcome, envelope, hold_until)
                SELECT 't-' || :tag, 'e-' || n, 'invoice.approved',
                       CASE WHEN n <= :waiting THEN 'waiting' ELSE 'mapped' END,
                       CASE WHEN n <= :waiting THEN jsonb_build_object(
                           'specversion', '1.0', 'id', 'e-' || n, 'source', 'test',
                           'type', 'invoice.approved', 'tenantid', 't-' || :tag) END,
                       CASE WHEN n <= :waiting THEN now() - interval '1 minute' END
                FROM generate_series(1, :count) n"""),
        {"tag": tag, "waiting": 2, "count": HISTORY + 2},
    )
    await session.execute(text("ANALYZE mapper.platform_events"))
    before = await rows_read(session, "mapper", "platform_events")

    held = await mapper_repository.take_held(session, overdue=True, limit=CLAIM_ALL)

    read = await rows_read(session, "mapper", "platform_events") - before
    assert {e.id for e in held if e.tenantid == f"t-{tag}"} == {"e-1", "e-2"}
    assert read < len(held) + 100, f"taking {len(held)} held events read {read} rows"


async def test_due_webhook_deliveries_are_claimed_without_reading_the_delivered_ones(
    session: AsyncSession,
) -> None:
    endpoint = str(uuid.uuid4())
    await session.execute(
        text("""INSERT INTO auth.webhook_endpoints (id, platform_id, url, event_types, secret_ciphertext)
                VALUES (:id, 'p-generic-plans', 'https://example.com/hook', '[]', 'x')"""),
        {"id": endpoint},
    )
    await session.execute(
        text("""INSERT INTO auth.webhook_deliveries
                    (id, endpoint_id, event_id, event_type, envelope, status, next_attempt_at)
                SELECT gen_random_uuid(), :endpoint, 'e-' || n, 'sync.succeeded', '{}',
                       CASE WHEN n <= :pending THEN 'pending' ELSE 'succeeded' END,
                       CASE WHEN n <= :pending THEN now() - interval '1 minute' END
                FROM generate_series(1, :count) n"""),
        {"endpoint": endpoint, "pending": 2, "count": HISTORY + 2},
    )
    await session.execute(text("ANALYZE auth.webhook_deliveries"))
    before = await rows_read(session, "auth", "webhook_deliveries")

    rows = await egress_repository.claim_due(
        session, now=dt.datetime.now(dt.UTC), lease=dt.timedelta(seconds=30), limit=CLAIM_ALL
    )

    read = await rows_read(session, "auth", "webhook_deliveries") - before
    assert len([r for r in rows if r.url == "https://example.com/hook"]) >= 2
    assert read < len(rows) + 100, f"claiming {len(rows)} due deliveries read {read} rows"


async def test_a_connection_coming_back_resumes_its_parked_jobs_without_reading_its_finished_ones(
    session: AsyncSession,
) -> None:
    connection = f"c-{uuid.uuid4().hex}"
    await session.execute(
        text("""INSERT INTO exporter.jobs (id, connection_id, realm_id, entity, operation, object_type,
                                           platform_id, source_event_id, requestid, payload, status,
                                           park_reason)
                SELECT gen_random_uuid()::text, p.c, p.c, 'Customer', 'create', 'customer', 'p-' || n,
                       'e-' || n, md5(p.c || n), '{}',
                       CASE WHEN n <= :parked THEN 'parked' ELSE 'succeeded' END,
                       CASE WHEN n <= :parked THEN 'connection' END
                FROM (SELECT CAST(:c AS text) AS c) p, generate_series(1, :count) n"""),
        {"c": connection, "parked": 2, "count": HISTORY + 2},
    )
    await session.execute(text("ANALYZE exporter.jobs"))
    before = await rows_read(session, "exporter", "jobs")

    resumed = await exporter_repository.resume_connection(session, connection_id=connection)

    read = await rows_read(session, "exporter", "jobs") - before
    assert resumed == 2
    assert read < 100, f"resuming {resumed} jobs read {read} rows of exporter.jobs"
