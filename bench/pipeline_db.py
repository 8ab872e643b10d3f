"""The benchmark's view of its own Postgres database: work counters (``pg_stat_*``), the CPU of
the backends serving it, and history or backlog seeded straight into ``exporter.jobs``.

Every function here works on the benchmark's database only (``qbo_bridge_bench``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import asyncpg
import psutil

from shared.db import asyncpg_dsn

_DATABASE = """SELECT xact_commit, xact_rollback, tup_returned, tup_fetched, blks_read, blks_hit
FROM pg_stat_database WHERE datname = current_database()"""
_TABLES = """SELECT schemaname || '.' || relname AS name, seq_scan, seq_tup_read,
    coalesce(idx_scan, 0) AS idx_scan, coalesce(idx_tup_fetch, 0) AS idx_tup_fetch,
    n_tup_ins, n_tup_upd, n_tup_del
FROM pg_stat_user_tables"""
_TABLE_COUNTERS = (
    "seq_scan",
    "seq_tup_read",
    "idx_scan",
    "idx_tup_fetch",
    "n_tup_ins",
    "n_tup_upd",
    "n_tup_del",
)
# A backend that has gone idle publishes what it counted within 10 s (PGSTAT_IDLE_INTERVAL).
STATS_FLUSH_SECONDS = 11.0


async def counters(database_url: str) -> dict[str, float]:
    """The database's cumulative counters: transactions, and over every user table rows read
    (sequential, by index) and written; ``table:<schema.name>:rows_read`` per table too."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        db = await conn.fetchrow(_DATABASE)
        tables = await conn.fetch(_TABLES)
    finally:
        await conn.close()
    out: dict[str, float] = {k: float(v or 0) for k, v in dict(db or {}).items()}
    for key in _TABLE_COUNTERS:
        out[key] = float(sum(t[key] or 0 for t in tables))
    for t in tables:
        out[f"table:{t['name']}:rows_read"] = float((t["seq_tup_read"] or 0) + (t["idx_tup_fetch"] or 0))
    return out


async def analyze(database_url: str) -> None:
    """Fresh planner statistics for every table, as autovacuum keeps them on a long-running
    deployment. Without this, a table the earlier scenarios grew from nothing within minutes
    (``webhooks.changes``) still looks empty to the planner, which then scans it whole rather than
    use its partial index, and rows read grow with what earlier scenarios left, not with the design."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def quiet_counters(database_url: str, *, quiet_xacts: float = 3.0) -> dict[str, float]:
    """The counters once Postgres has published what the backends did: read every second until a
    second adds at most ``quiet_xacts`` transactions (an idle stack's own background), bounded
    by the stats flush interval."""
    deadline = time.monotonic() + STATS_FLUSH_SECONDS
    last = await counters(database_url)
    while time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        now = await counters(database_url)
        added = (now["xact_commit"] + now["xact_rollback"]) - (last["xact_commit"] + last["xact_rollback"])
        last = now
        if added <= quiet_xacts:
            break
    return last


def table_reads(delta: Mapping[str, float], *, top: int = 6) -> dict[str, float]:
    """The tables read most in a counter delta: name → rows read."""
    reads = {k.split(":")[1]: v for k, v in delta.items() if k.startswith("table:") and v > 0}
    return dict(sorted(reads.items(), key=lambda kv: -kv[1])[:top])


class BackendCpu:
    """CPU (user + system) of the Postgres backends serving one database, summed over a window.

    Backends are listed from ``pg_stat_activity`` at each sample; one already running when the
    window opens counts from then, one born inside it from its start. A backend that exits
    between two samples loses at most the last sample interval (the services' pools keep theirs).
    """

    def __init__(self, server_url: str, database: str) -> None:
        self._server_url, self._database = server_url, database
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._started = False
        self._conn: asyncpg.Connection | None = None

    async def sample(self) -> None:
        if self._conn is None:
            # Connected to the maintenance database, so its own reads are not the benchmark's work.
            self._conn = await asyncpg.connect(asyncpg_dsn(self._server_url))
        rows = await self._conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", self._database)
        for row in rows:
            pid = int(row["pid"])
            try:
                cpu = sum(psutil.Process(pid).cpu_times()[:2])
            except psutil.Error:
                continue
            self._first.setdefault(pid, cpu if not self._started else 0.0)
            self._last[pid] = cpu
        self._started = True

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    def seconds(self) -> float | None:
        """None when no backend could be read (a Postgres on another host or in a container)."""
        if not self._last:
            return None
        return round(sum(self._last[p] - self._first[p] for p in self._last), 3)


async def _columns(conn: asyncpg.Connection, table: str) -> list[str]:
    schema, name = table.split(".")
    rows = await conn.fetch(
        """SELECT column_name FROM information_schema.columns
        WHERE table_schema = $1 AND table_name = $2 AND is_identity = 'NO' AND is_generated = 'NEVER'
        ORDER BY ordinal_position""",
        schema,
        name,
    )
    return [str(r["column_name"]) for r in rows]


async def clone_jobs(
    database_url: str, *, template_id: str, count: int, overrides: Mapping[str, str]
) -> float:
    """``count`` copies of one ``exporter.jobs`` row in one ``INSERT … SELECT … generate_series``;
    ``overrides`` are SQL expressions per column (``g`` is the copy's number); returns seconds.

    Columns the table does not have are left out of the overrides, and identity columns are
    generated, so a schema that gained or lost columns still seeds."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    started = time.monotonic()
    try:
        columns = await _columns(conn, "exporter.jobs")
        values = ", ".join(overrides.get(c, f"t.{c}") for c in columns)
        # Only column names read from the catalog and the constant overrides below are interpolated.
        sql = (
            f"INSERT INTO exporter.jobs ({', '.join(columns)}) "
            f"SELECT {values} FROM exporter.jobs t, generate_series(1, $2) g WHERE t.id = $1"
        )
        await conn.execute(sql, template_id, count)
        await conn.execute("ANALYZE exporter.jobs")
    finally:
        await conn.close()
    return round(time.monotonic() - started, 1)


HISTORY_CONNECTIONS = 1000


def finished_overrides() -> dict[str, str]:
    """Finished jobs of 1,000 earlier connections, spread over the last 90 days."""
    when = "now() - make_interval(secs => g * 7.0)"
    return {
        "id": "gen_random_uuid()::text",
        "connection_id": f"'history-' || (g % {HISTORY_CONNECTIONS})",
        "realm_id": f"'history-' || (g % {HISTORY_CONNECTIONS})",
        "tenant_id": f"'history-' || (g % {HISTORY_CONNECTIONS})",
        "source_event_id": "'hist-' || g",
        "requestid": "'hist-' || g",
        "platform_id": "'hist_' || g",
        "match_value": "'H' || g",
        "status": "'succeeded'",
        "attempts": "1",
        "in_doubt": "false",
        "lease_until": "NULL",
        "claimed_by": "NULL",
        "qbo_id": "(1000000 + g)::text",
        "qbo_doc_number": "'H' || g",
        "created_at": when,
        "started_at": when,
        "finished_at": when,
        "updated_at": when,
        "next_attempt_at": when,
    }


def backlog_overrides(prefix: str) -> dict[str, str]:
    """Queued, ready creates of new invoices for the template's own connection (a realm with a
    backlog): each its own platform object, request id and DocNumber."""
    number = f"'{prefix}' || g"
    return {
        "id": "gen_random_uuid()::text",
        "source_event_id": f"'{prefix}-' || g",
        "requestid": "gen_random_uuid()::text",
        "platform_id": f"'{prefix}_' || g",
        "match_value": number,
        "match": f"CASE WHEN t.match IS NULL THEN NULL "
        f"ELSE jsonb_set(t.match, '{{value}}', to_jsonb({number})) END",
        "payload": f"jsonb_set(t.payload, '{{DocNumber}}', to_jsonb({number}))",
        "status": "'queued'",
        "attempts": "0",
        "in_doubt": "false",
        "lease_until": "NULL",
        "claimed_by": "NULL",
        "started_at": "NULL",
        "finished_at": "NULL",
        "qbo_id": "NULL",
        "qbo_doc_number": "NULL",
        "intuit_tid": "NULL",
        "next_attempt_at": "now()",
        "created_at": "now()",
        "updated_at": "now()",
    }


async def job_of(database_url: str, *, realm_id: str, status: str = "succeeded") -> dict[str, Any] | None:
    """One Invoice job of ``realm_id`` in ``status`` (the template of a seed), or None."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        row = await conn.fetchrow(
            "SELECT id, connection_id FROM exporter.jobs WHERE realm_id = $1 AND entity = 'Invoice' "
            "AND status = $2 LIMIT 1",
            realm_id,
            status,
        )
    finally:
        await conn.close()
    return None if row is None else dict(row)


async def job_counts(database_url: str) -> dict[str, int]:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await conn.fetch("SELECT status, count(*) AS n FROM exporter.jobs GROUP BY status")
    finally:
        await conn.close()
    return {str(r["status"]): int(r["n"]) for r in rows}


async def finished_job_id(database_url: str) -> str | None:
    """A succeeded Invoice job exported through the pipeline (not a seeded copy)."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        found = await conn.fetchval(
            "SELECT id FROM exporter.jobs WHERE status = 'succeeded' AND entity = 'Invoice' "
            "AND requestid NOT LIKE 'hist-%' LIMIT 1"
        )
    finally:
        await conn.close()
    return None if found is None else str(found)


async def delete_backlog(database_url: str, *, source_prefix: str) -> int:
    """The seeded backlog's jobs still queued (those being written finish as they would)."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        done = await conn.execute(
            "DELETE FROM exporter.jobs WHERE status = 'queued' AND source_event_id LIKE $1",
            source_prefix + "%",
        )
    finally:
        await conn.close()
    return int(done.split()[-1])
