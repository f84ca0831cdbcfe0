"""The PostgreSQL collector: read-only sessions, each catalog query once.

The session (perfcheck.pg.session) is set up so that the audit cannot harm the target:
application_name 'perfcheck' (so it is recognisable in pg_stat_activity), every
transaction read-only, short statement and lock timeouts. Queries live in `sql/*.sql`
beside this module, one per fact (those the advisor shares in `perfcheck/pg/sql/`), each
tagged `/* perfcheck */` so that perfcheck's own statements are left out of the workload
it judges. The index advice fact is the advisor's `analyse()` on this same session. The
slowest catalog query, postgres.columns, runs meanwhile on a second session set up the same
way (side_query), and is read last.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable

import psycopg
from psycopg import sql

from perfcheck.collectors import Collector, FactUnavailable
from perfcheck.collectors.postgres.side_query import SideQuery
from perfcheck.model import Status
from perfcheck.pg import dsn, pooler, queries
from perfcheck.pg.names import tagged
from perfcheck.pg.session import Session, connect, describe_error, one_line, open_session, sql_text
from perfcheck.pg.stat_statements import NotAvailable
from perfcheck.redact import scrub

CONNECT_ROUNDS = 5  # connects per round in postgres.connect_latency

# Settings the checks read (db.timeouts, db.pool, mon.slow_query_log, db.prepared_statements…).
SETTINGS = [
    "max_connections", "superuser_reserved_connections", "statement_timeout",
    "idle_in_transaction_session_timeout", "lock_timeout", "log_min_duration_statement",
    "shared_preload_libraries", "shared_buffers", "pg_stat_statements.track_planning",
    "pg_stat_statements.max", "track_activities", "track_counts", "autovacuum",
    "plan_cache_mode", "work_mem", "effective_cache_size", "random_page_cost",
    "autovacuum_freeze_max_age",
]


PACKAGE = "perfcheck.collectors.postgres"  # its sql/ folder: one query per fact
BLOAT_MIN_BYTES = 10 * 1024 * 1024  # db.bloat's defaults, when the check is not selected
BLOAT_MAX_EXACT = 20


def query_text(name: str) -> str:
    return sql_text(PACKAGE, name)


def printable_indexes(rows: list[dict[str, Any]], thresholds: dict[str, dict[str, Any]]) -> set[int]:
    """The oids of the indexes whose definition a selected check may print (`thresholds`:
    the selected checks'): invalid or unready ones (db.invalid_indexes), unscanned ones that
    db.unused_indexes may report, and those sharing table and leading key column with
    another valid index (db.duplicate_indexes pairs only such: a prefix, or a hash beside a
    btree, starts with the same column)."""
    shown: set[int] = set()
    if "db.invalid_indexes" in thresholds:
        shown.update(row["oid"] for row in rows if not row["is_valid"] or not row["is_ready"])
    if "db.unused_indexes" in thresholds:
        least = int(thresholds["db.unused_indexes"].get("min_size_bytes", 0))
        shown.update(row["oid"] for row in rows if not row["scans"] and row["size_bytes"] >= least
                     and not (row["is_unique"] or row["is_primary"] or row["backs_constraint"]))
    if "db.duplicate_indexes" in thresholds:
        leading: dict[tuple[str, str, int | None], list[int]] = {}
        for row in rows:
            if row["is_valid"]:
                first = row["attnums"][0] if row["attnums"] else None
                leading.setdefault((row["schema"], row["table"], first), []).append(row["oid"])
        shown.update(oid for oids in leading.values() if len(oids) > 1 for oid in oids)
    return shown


class PostgresCollector(Collector):
    target = "postgres"
    timing_facts = ("postgres.connect_latency",)
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
        "postgres.partitions": "_partitions",
        "postgres.columns": "_columns",
        "postgres.connect_latency": "_connect_latency",
        "postgres.index_advice": "_index_advice",
        "postgres.connection": "_connection",
        "postgres.pooler": "_pooler",
        "postgres.database_stats": "_database_stats",
        "postgres.bloat": "_bloat",
        "postgres.sequences": "_sequences",
        "postgres.primary_keys": "_primary_keys",
    }

    session: Session | None = None
    side: SideQuery | None = None  # postgres.columns, on a session of its own (see side_query)

    @property
    def conn(self) -> psycopg.Connection | None:
        return self.session.conn if self.session is not None else None

    def order(self, names: set[str]) -> list[str]:
        """postgres.columns last: its query runs on the side session meanwhile."""
        return sorted(names, key=lambda name: (name == "postgres.columns", name))

    def gather(self, needed: set[str], step: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
        heaviest = {"postgres.indexes"} & needed  # 100,000 relations: ~2 s of the 5 s statement_timeout

        def started(name: str) -> None:
            # After the timing samples (a second session's query would disturb them) and the
            # heaviest catalog query (run side by side on a busy host, it neared its timeout).
            if self.side is None and "postgres.columns" in needed and name not in self.timing_facts and not heaviest:
                self.side = SideQuery(self.url, self.options, PACKAGE, "columns", self._schemas)
            heaviest.discard(name)
            step(name)
        return super().gather(needed, started)

    def open(self) -> None:
        self.session = Session(connect(self.url, self.options), PACKAGE)

    def close(self) -> None:
        if self.side is not None:
            self.side.close()
        if self.session is not None:
            self.session.close()
            self.session = None

    def describe_error(self, exc: Exception) -> str:
        return describe_error(exc, self.secrets) or super().describe_error(exc)

    def query(self, name: str, params: dict[str, Any] | None = None, text: str | None = None) -> list[dict[str, Any]]:
        assert self.session is not None
        return self.session.rows(name, params, text=text)

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
        assert self.session is not None
        return queries.extensions(self.session)

    def _statements(self) -> list[dict[str, Any]]:
        assert self.session is not None
        try:
            return queries.statements(self.session, self.fact("postgres.extensions"),
                                      int(self.options.get("max_statements", 5000)))
        except NotAvailable as exc:
            raise FactUnavailable(str(exc)) from None

    def _activity(self) -> list[dict[str, Any]]:
        return self.query("activity")

    def _tables(self) -> list[dict[str, Any]]:
        return self.query("tables", self._schemas)

    def _indexes(self) -> list[dict[str, Any]]:
        """The indexes, with `definition` (pg_get_indexdef) only for those a selected check may
        print: it is most of the query's server time on a big catalog (1.35 s of 1.9 s at
        66,000 indexes), and checks print few. The others' `definition` is None."""
        rows = self.query("indexes", self._schemas)
        shown = printable_indexes(rows, self.thresholds)
        found = {row["oid"]: row["definition"] for row in self.query("index_definitions", {"oids": sorted(shown)})} \
            if shown else {}
        for row in rows:
            row["definition"] = found.get(row["oid"])
        return rows

    def _foreign_keys(self) -> list[dict[str, Any]]:
        return self.query("foreign_keys", self._schemas)

    def _partitions(self) -> list[dict[str, Any]]:
        return self.query("partitions", self._schemas)

    def _columns(self) -> list[dict[str, Any]]:
        rows = self.side.rows(self.remaining()) if self.side is not None else None
        return rows if rows is not None else self.query("columns", self._schemas)

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

    def _bloat(self) -> dict[str, Any]:
        """Tables and btree indexes of db.bloat's min_size_bytes or more, with what the
        statistics-based estimate needs; with pgstattuple installed, its measure of the
        largest ones too (`exact`: pgstattuple_approx for a table, pgstatindex for an index)."""
        t = self.thresholds.get("db.bloat", {})
        min_pages = max(1, int(t.get("min_size_bytes", BLOAT_MIN_BYTES)) // 8192)
        rows = self.query("bloat", {**self._schemas, "min_pages": min_pages})
        ext = self.fact("postgres.extensions").get("pgstattuple")
        if ext is None:
            return {"pgstattuple": None, "relations": rows}
        for row in rows[:int(t.get("max_exact", BLOAT_MAX_EXACT))]:  # the largest first
            row["exact"], row["exact_error"] = self._exact_bloat(ext["schema"], row)
        return {"pgstattuple": ext["version"], "relations": rows}

    def _exact_bloat(self, schema: str, row: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
        ident = sql.Identifier(schema).as_string(self.conn)
        if row["kind"] == "table":
            text = tagged(f"SELECT table_len, approx_free_space AS free_bytes, dead_tuple_len AS dead_bytes "
                          f"FROM {ident}.pgstattuple_approx(%(oid)s::oid)")
        else:
            text = tagged(f"SELECT index_size AS table_len, leaf_pages, avg_leaf_density "
                          f"FROM {ident}.pgstatindex(%(oid)s::oid::regclass)")
        try:
            return self.query("bloat_exact", {"oid": row["oid"]}, text=text)[0], None
        except psycopg.Error as exc:
            if self.conn is None or self.conn.broken:
                raise
            return None, scrub(one_line(exc), self.secrets)

    def _sequences(self) -> list[dict[str, Any]]:
        return self.query("sequences", self._schemas)

    def _primary_keys(self) -> list[dict[str, Any]]:
        return self.query("primary_keys", self._schemas)

    def _index_advice(self) -> dict[str, Any]:
        """The index advisor's recommendations for the workload (see perfcheck.advisor);
        hypothetical indexes only, on this read-only session."""
        from perfcheck import advisor  # why: the advisor and pglast cost ~0.3 s to import; only db.missing_indexes needs them

        assert self.session is not None
        statements = self.fact("postgres.statements")
        options = advisor.Options.from_thresholds(self.thresholds.get(advisor.CHECK_ID))
        with self.session.pinned():  # HypoPG's indexes live in one backend, also behind a pooler
            return advisor.analyse(self.session, statements, self.fact("postgres.extensions"), options).to_dict()

    def _connect_latency(self) -> dict[str, Any]:
        """Time to open a new session vs a round trip on an open one: the cost a pool saves.
        Two rounds of CONNECT_ROUNDS connects and the quieter round's median: a burst of
        load elsewhere on the host slows one round, a slow connect path both."""
        assert self.conn is not None
        conninfo = dsn.parse(self.url, os.environ).conninfo
        rounds = []
        for _ in range(2):
            connects = []
            for _ in range(CONNECT_ROUNDS):
                start = time.perf_counter()
                try:
                    open_session(conninfo, 5, "perfcheck", True).close()
                except psycopg.Error as exc:
                    raise FactUnavailable(scrub(one_line(exc), self.secrets), Status.ERROR) from None
                connects.append((time.perf_counter() - start) * 1000)
            rounds.append(sorted(connects)[len(connects) // 2])
        trips = []
        probe = psycopg.Cursor(self.conn)  # one round trip, even where statements are wrapped (pg.pooled)
        for _ in range(5):
            start = time.perf_counter()
            probe.execute(tagged("SELECT 1"), prepare=False)
            trips.append((time.perf_counter() - start) * 1000)
        return {"connect_ms": min(rounds), "connect_round_medians_ms": [round(ms, 2) for ms in rounds],
                "round_trip_ms": sorted(trips)[len(trips) // 2]}
