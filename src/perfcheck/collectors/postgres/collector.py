"""The PostgreSQL collector: one read-only session, each catalog query once.

The session is set up so that the audit cannot harm the target: application_name
'perfcheck' (so it is recognisable in pg_stat_activity), every transaction read-only,
short statement and lock timeouts. Queries live in `sql/postgres/*.sql`, one per fact,
each tagged `/* perfcheck */` so that perfcheck's own statements are left out of the
workload it judges.
"""

from __future__ import annotations

import os
import time
from functools import cache
from importlib import resources
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row

from perfcheck.pg import dsn, pooler
from perfcheck.redact import scrub
from perfcheck.pg.names import tagged
from perfcheck.collectors import Collector, FactUnavailable, TargetError
from perfcheck.checks.support.pg import ENABLE_PG_STAT_STATEMENTS, HIDDEN_TEXT
from perfcheck.model import Status

# Settings the checks read (db.timeouts, db.pool, mon.slow_query_log, db.prepared_statements…).
SETTINGS = [
    "max_connections", "superuser_reserved_connections", "statement_timeout",
    "idle_in_transaction_session_timeout", "lock_timeout", "log_min_duration_statement",
    "shared_preload_libraries", "shared_buffers", "pg_stat_statements.track_planning",
    "pg_stat_statements.max", "track_activities", "track_counts", "autovacuum",
    "plan_cache_mode", "work_mem", "effective_cache_size", "random_page_cost",
    "autovacuum_freeze_max_age",
]


@cache
def query_text(name: str) -> str:
    return tagged((resources.files("perfcheck.collectors.postgres") / "sql" / f"{name}.sql").read_text())


def one_line(exc: BaseException) -> str:
    """psycopg messages span lines (context, hints); a user wants the first meaningful one."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def connect(url: str, options: dict[str, Any], *, read_only: bool = True, autocommit: bool = True,
            application_name: str = "perfcheck") -> psycopg.Connection:
    """A session set up for perfcheck; raises TargetError with a one-line, secret-free message."""
    timeout = max(1, int(round(options.get("connect_timeout_s", 5))))
    try:
        target = dsn.parse(url, os.environ).conninfo
    except dsn.DsnError as exc:
        raise TargetError(f"postgres: {exc}") from None
    try:
        conn = open_session(target, timeout, application_name, autocommit, marked=True)
    except psycopg.Error as exc:
        raise TargetError(describe_connect_error(url, exc)) from None
    try:
        if read_only and not _direct(conn):
            # Behind a pooler (the start-up options did not reach the server): a session SET
            # would stay on the pooler's server connection and reach the application's next
            # transactions (read-only ones!). perfcheck only reads there; the server's timeouts apply.
            return conn
        # jit off: JIT compiles big catalog queries for longer than they run (6,000 indexes: 0.5 s → 0.2 s).
        conn.execute(tagged("SELECT set_config('statement_timeout', %s, false), set_config('lock_timeout', %s, false), "
                            "set_config('jit', 'off', false)"),
                     (f"{int(options.get('statement_timeout_ms', 5000))}ms",
                      f"{int(options.get('lock_timeout_ms', 1000))}ms"))
        if read_only:
            conn.execute(tagged("SET default_transaction_read_only = on"))
            conn.execute(tagged("SET idle_in_transaction_session_timeout = '10s'"))
    except psycopg.Error as exc:
        conn.close()
        raise TargetError(f"postgres: cannot set up a read-only session: {one_line(exc)}") from None
    return conn


# Passed in the start-up options: a session that sees it reached the server directly.
_DIRECT_MARK = "-c perfcheck.direct=on"


def open_session(conninfo: str, timeout: int, application_name: str, autocommit: bool,
                 marked: bool = False) -> psycopg.Connection:
    """A connection (without `options` when a pooler refuses it: see pg.pooler.connect);
    `marked`: with perfcheck's mark added to the start-up options (see `_direct`)."""
    extra: dict[str, Any] = {}
    if marked:
        own = conninfo_to_dict(conninfo).get("options") or ""
        extra["options"] = f"{own} {_DIRECT_MARK}".strip()
    return pooler.connect(conninfo, timeout, application_name=application_name, autocommit=autocommit,
                          row_factory=dict_row, **extra)


def _direct(conn: psycopg.Connection) -> bool:
    """Whether the start-up options reached the server: not through PgBouncer (it refuses
    or ignores them), nor any pooler that starts server sessions on its own."""
    row = conn.execute(tagged("SELECT current_setting('perfcheck.direct', true) AS direct")).fetchone()
    return bool(row) and row["direct"] == "on"


def describe_connect_error(url: str, exc: psycopg.Error) -> str:
    from perfcheck.redact import redact_url, secrets_in_url

    where = redact_url(url)
    message = str(exc)
    for prefix in ("connection failed: ",):
        message = message.removeprefix(prefix)
    # libpq prefixes 'connection to server at "h" (ip), port p failed:'; keep what follows.
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    reason = lines[0] if lines else type(exc).__name__
    if "failed:" in reason:
        reason = reason.split("failed:", 1)[1].strip() or reason
    if reason.startswith("FATAL:"):
        reason = reason.removeprefix("FATAL:").strip()
    if "timeout expired" in reason:
        reason = "connection timed out"
    return scrub(f"postgres: cannot connect to {where}: {reason}", secrets_in_url(url))


class PostgresCollector(Collector):
    target = "postgres"
    providers = {
        "postgres.server": "_server",
        "postgres.settings": "_settings",
        "postgres.role_settings": "_role_settings",
        "postgres.extensions": "_extensions",
        "postgres.statements": "_statements",
        "postgres.activity": "_activity",
        "postgres.tables": "_tables",
        "postgres.indexes": "_indexes",
        "postgres.foreign_keys": "_foreign_keys",
        "postgres.columns": "_columns",
        "postgres.connect_latency": "_connect_latency",
        "postgres.index_advice": "_index_advice",
        "postgres.connection": "_connection",
        "postgres.pooler": "_pooler",
        "postgres.database_stats": "_database_stats",
    }

    conn: psycopg.Connection | None = None

    def open(self) -> None:
        self.conn = connect(self.url, self.options)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def describe_error(self, exc: Exception) -> str:
        if isinstance(exc, psycopg.errors.InsufficientPrivilege):
            return scrub(one_line(exc), self.secrets)  # "permission denied for view pg_stat_activity"
        if isinstance(exc, psycopg.errors.QueryCanceled):
            return "the catalog query was cancelled by perfcheck's statement_timeout"
        if isinstance(exc, psycopg.Error):
            return scrub(one_line(exc), self.secrets)
        return super().describe_error(exc)

    def query(self, name: str, params: dict[str, Any] | None = None, text: str | None = None) -> list[dict[str, Any]]:
        assert self.conn is not None
        with self.conn.cursor() as cur:
            cur.execute(text or query_text(name), params or {})
            return cur.fetchall()

    @property
    def _schemas(self) -> dict[str, Any]:
        return {"schemas": list(self.options.get("schemas") or [])}

    def _server(self) -> dict[str, Any]:
        return self.query("server")[0]

    def _settings(self) -> dict[str, dict[str, Any]]:
        return {row["name"]: row for row in self.query("settings", {"names": SETTINGS})}

    def _role_settings(self) -> list[dict[str, str]]:
        rows = []
        for row in self.query("role_settings"):
            name, _, value = row["cfg"].partition("=")
            rows.append({"level": row["level"], "name": name, "value": value})
        return rows

    def _extensions(self) -> dict[str, dict[str, Any]]:
        return {row["name"]: row for row in self.query("extensions")}

    def _statements(self) -> list[dict[str, Any]]:
        ext = self.fact("postgres.extensions").get("pg_stat_statements")
        if ext is None:
            raise FactUnavailable(f"pg_stat_statements is not installed in this database; enable it with {ENABLE_PG_STAT_STATEMENTS}")
        schema = ext["schema"]
        columns = {row["column_name"] for row in self.query(
            "columns_of_view", text=tagged("SELECT column_name FROM information_schema.columns "
                                           "WHERE table_schema = %(schema)s AND table_name = 'pg_stat_statements'"),
            params={"schema": schema})}
        if "total_exec_time" in columns:  # PostgreSQL 13+
            total, mean = "s.total_exec_time", "s.mean_exec_time"
        else:
            total, mean = "s.total_time", "s.mean_time"
        plans = "s.plans" if "plans" in columns else "NULL::bigint"
        plan_ms = "s.total_plan_time" if "total_plan_time" in columns else "NULL::float8"
        text = query_text("statements").format(total_ms=total, mean_ms=mean, plans=plans, plan_ms=plan_ms,
                                                schema=sql.Identifier(schema).as_string(self.conn))
        try:
            rows = self.query("statements", {"limit": int(self.options.get("max_statements", 5000))}, text=text)
        except psycopg.errors.ObjectNotInPrerequisiteState:
            raise FactUnavailable(f"pg_stat_statements is installed but not loaded; set {ENABLE_PG_STAT_STATEMENTS}") from None
        for row in rows:
            # Another role's statement, without pg_read_all_stats: its counters are there, its
            # text and queryid are not. Marked, so that no check judges or names it by its text.
            row["hidden"] = row["query"] is None or row["query"] == HIDDEN_TEXT or row["queryid"] is None
            if row["hidden"]:
                row["query"] = HIDDEN_TEXT
        return rows

    def _activity(self) -> list[dict[str, Any]]:
        return self.query("activity")

    def _tables(self) -> list[dict[str, Any]]:
        return self.query("tables", self._schemas)

    def _indexes(self) -> list[dict[str, Any]]:
        return self.query("indexes", self._schemas)

    def _foreign_keys(self) -> list[dict[str, Any]]:
        return self.query("foreign_keys", self._schemas)

    def _columns(self) -> list[dict[str, Any]]:
        return self.query("columns", self._schemas)

    def _connection(self) -> dict[str, Any]:
        """The URL's port and parameters against the port the server itself listens on
        (they differ behind a pooler); secret parameters stay masked. `set_aside`: what the
        application's driver reads but libpq does not (Prisma's connection_limit…);
        `session_settings`: settings the application's sessions ask for at start-up."""
        parsed = dsn.parse(self.url, os.environ)
        return {"url_port": parsed.port(os.environ), "url_host": parsed.host or os.environ.get("PGHOST"),
                "url_params": parsed.visible_params(), "set_aside": sorted(parsed.set_aside),
                "session_settings": dsn.session_settings(parsed), "url_note": parsed.note(),
                **self.query("connection")[0]}

    def _pooler(self) -> dict[str, Any]:
        """Which pooler stands in front and in which mode (see perfcheck.pg.pooler)."""
        connection = self.fact("postgres.connection")
        return pooler.probe(dsn.parse(self.url, os.environ).conninfo, connection.get("url_port"),
                            connection.get("server_port"), max(1, int(self.options.get("connect_timeout_s", 5))),
                            host=connection.get("url_host"))

    def _database_stats(self) -> dict[str, Any]:
        rows = self.query("database_stats")
        return rows[0]["stats"] if rows else {}

    def _index_advice(self) -> dict[str, Any]:
        """The index advisor's recommendations for the workload (see perfcheck.advisor);
        hypothetical indexes only, on this read-only session."""
        from perfcheck.advisor.analyse import analyse

        statements = self.fact("postgres.statements")
        advice = analyse(self.conn, statements, self.fact("postgres.extensions"),
                         self.thresholds.get("db.missing_indexes"))
        return advice.to_dict()

    def _connect_latency(self) -> dict[str, Any]:
        """Time to open a new session vs a round trip on an open one: the cost a pool saves."""
        assert self.conn is not None
        connects = []
        for _ in range(3):
            start = time.perf_counter()
            try:
                open_session(dsn.parse(self.url, os.environ).conninfo, 5, "perfcheck", True).close()
            except psycopg.Error as exc:
                raise FactUnavailable(scrub(one_line(exc), self.secrets), Status.ERROR) from None
            connects.append((time.perf_counter() - start) * 1000)
        trips = []
        for _ in range(5):
            start = time.perf_counter()
            self.conn.execute(tagged("SELECT 1"))
            trips.append((time.perf_counter() - start) * 1000)
        return {"connect_ms": sorted(connects)[len(connects) // 2], "round_trip_ms": sorted(trips)[len(trips) // 2]}
