"""How fast and how lean is a database audit on a big catalog?

Builds, in a throwaway cluster (perfcheck.demo.sandbox), a schema of 2,000 tables with 6,000
indexes and 1,999 foreign keys, and a workload of 5,000 distinct statements in
pg_stat_statements; then prints

  * the wall time of `perfcheck audit --only database --format json` (goal < 3 s),
    with and without the index advisor (db.missing_indexes, whose HypoPG what-ifs are
    not catalog queries). The advisor is exercised for real: HypoPG is installed in the
    database and HOT_TABLES tables of HOT_ROWS rows get statements filtering on an
    unindexed column, called often and slowly enough to pass min_calls / min_mean_ms;
    the script prints what the advisor analysed and recommended, from the report;
  * the wall time of the same catalog queries run directly in one psql session: the
    statements the audit without the advisor sent, recorded from the server's log and
    replayed (recorded.py; goal, issue 13: perfcheck's catalog checks within 1.5x of it),
  * perfcheck's peak memory, the maximum resident set of the audit process alone
    (GNU time; goal < 150 MB).
Every figure is the median of --runs runs, interleaved; the last line is the GOAL verdict.

Run: .venv/bin/python benchmarks/audit_speed.py [--tables 2000] [--runs 3]
     (--url URL --log FILE measures an existing database built by an earlier run instead,
     FILE being that server's log)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from measure import installed_env, run_measured

from perfcheck.demo.sandbox import PostgresServer, postgres_bindir
from recorded import psql_reference

HOT_TABLES, HOT_ROWS = 20, 30_000  # tables the index advisor has work on
INSTALLED = installed_env()


COLUMNS = ", ".join(["a int", "b text", "c timestamptz", "d jsonb", "e int", "f text", "g numeric", "h boolean"])


def build_catalog(url: str, tables: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET pg_stat_statements.track_utility = off")  # the DDL is not the workload
        conn.execute("CREATE SCHEMA bench")
        batch: list[str] = []
        for i in range(tables):
            parent = f", parent_id bigint REFERENCES bench.t{i - 1} (id)" if i else ", parent_id bigint"
            batch += [f"CREATE TABLE bench.t{i} (id bigserial PRIMARY KEY{parent}, {COLUMNS})",
                      f"CREATE INDEX ON bench.t{i} (a)", f"CREATE INDEX ON bench.t{i} (b, c)",
                      f"INSERT INTO bench.t{i} (a, b, c) SELECT g, 'x' || g, now() FROM generate_series(1, 5) g"]
            if len(batch) >= 200:  # one transaction per batch: the lock table has room for ~6,400
                conn.execute(";".join(batch))
                batch = []
        if batch:
            conn.execute(";".join(batch))
        for i in range(HOT_TABLES):
            conn.execute(f"CREATE TABLE bench.hot{i} (id bigserial PRIMARY KEY, e int, f text, g timestamptz)")
            conn.execute(f"INSERT INTO bench.hot{i} (e, f, g) SELECT g % 5000, 'k' || (g % 3000), now() "
                         f"FROM generate_series(1, {HOT_ROWS}) g")
        conn.execute("ANALYZE")


def run_workload(url: str, tables: int, statements: int) -> None:
    """`statements` distinct statements: per table a lookup with *, a child lookup, and
    for every other table an OFFSET page; a tenth of them run 12 times."""
    with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")
        made = 0
        for i in range(HOT_TABLES):  # slow enough (a sequential scan of HOT_ROWS rows) and called often enough
            for text, params in ((f"SELECT id, f FROM bench.hot{i} WHERE e = %s", (7,)),
                                 (f"SELECT id FROM bench.hot{i} WHERE f = %s ORDER BY g DESC LIMIT 5", ("k9",))):
                for _ in range(12):
                    conn.execute(text, params).fetchall()
                made += 1
        for i in range(tables):
            texts = [(f"SELECT * FROM bench.t{i} WHERE id = %s", (1,)),
                     (f"SELECT id, a FROM bench.t{i} WHERE parent_id = %s ORDER BY id LIMIT 10", (1,))]
            if i % 2 == 0:
                texts.append((f"SELECT id, b FROM bench.t{i} ORDER BY id LIMIT %s OFFSET %s", (2, 1)))
            for text, params in texts:
                if made >= statements:
                    return
                for _ in range(12 if made % 10 == 0 else 1):
                    conn.execute(text, params).fetchall()
                made += 1


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB (the process alone), stdout of one process; perfcheck
    as installed (bytecode cached)."""
    return run_measured(cmd, env=INSTALLED)


def advisor_figures(out: str) -> dict:
    report = json.loads(out)
    check = next(c for c in report["checks"] if c["id"] == "db.missing_indexes")
    return {"status": check["status"], **{k: check["metrics"].get(k) for k in
            ("mode", "statements_total", "statements_analysed", "recommendations", "advisor_s")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=2000)
    parser.add_argument("--statements", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--log", type=Path, help=argparse.SUPPRESS)  # with --url: that server's log file
    args = parser.parse_args()

    server = PostgresServer(settings={"pg_stat_statements.max": "10000"})
    if args.url:
        from urllib.parse import urlsplit

        server.port, server.bindir = urlsplit(args.url).port, postgres_bindir()
    else:
        server.start()
    log = args.log or (server.root / "log" if server.root else None)  # the server's log, for the recording
    try:
        url = args.url or server.url_for("bench")
        start = time.perf_counter()
        if not args.url:
            server.psql("CREATE DATABASE bench")
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION pg_stat_statements")
                conn.execute("CREATE EXTENSION hypopg")  # apt-get install -y postgresql-15-hypopg
            build_catalog(url, args.tables)
            run_workload(url, args.tables, args.statements)
        counts = server.psql("SELECT (SELECT count(*) FROM pg_class WHERE relkind = 'r' AND relnamespace = 'bench'::regnamespace)"
                             " || ' tables, ' || (SELECT count(*) FROM pg_indexes WHERE schemaname = 'bench')"
                             " || ' indexes, ' || (SELECT count(*) FROM pg_constraint WHERE contype = 'f')"
                             " || ' foreign keys, ' || (SELECT count(*) FROM pg_stat_statements s JOIN pg_database d"
                             " ON d.oid = s.dbid WHERE d.datname = 'bench') || ' pg_stat_statements entries'", "bench")
        print(f"catalog: {counts} (built in {time.perf_counter() - start:.1f} s, PostgreSQL {server.psql('SHOW server_version')})")

        scratch = tempfile.TemporaryDirectory(prefix="perfcheck-bench-")  # removed when the run ends
        audit = [sys.executable, "-m", "perfcheck", "audit", "--db", url, "--only", "database", "--format", "json"]
        without_advisor = [*audit, "--skip", "db.missing_indexes"]
        trivial = [*audit[:-4], "--only", "db.timeouts", "--format", "json"]  # start-up, connect, report: the fixed cost

        timed(audit)  # warm-up: bytecode, the server's catalog caches
        # The reference replays what the catalog checks (the audit without the advisor) send.
        psql, what = psql_reference(server.bindir, url, log, without_advisor, Path(scratch.name))
        print(f"psql reference: {what}")
        results: dict[str, list[tuple[float, float, str]]] = {"audit": [], "no_advisor": [], "psql": [], "trivial": []}
        for _ in range(args.runs):
            for key, cmd in (("audit", audit), ("no_advisor", without_advisor), ("psql", psql), ("trivial", trivial)):
                results[key].append(timed(cmd))
        report_lines(results, args.runs)
    finally:
        server.stop()


def report_lines(results: dict[str, list[tuple[float, float, str]]], runs: int) -> None:
    def median(key: str) -> float:
        return statistics.median(r[0] for r in results[key])

    advisor = advisor_figures(results["audit"][-1][2])
    rss = statistics.median(r[1] or 0 for key in ("audit", "no_advisor") for r in results[key])
    ratio = median("no_advisor") / median("psql")
    print(f"perfcheck audit --only database (advisor on):   median {median('audit'):.2f} s of {runs} "
          f"(runs {', '.join(f'{r[0]:.2f}' for r in results['audit'])})   goal < 3 s")
    print(f"  the index advisor: {advisor}")
    print(f"  the same without db.missing_indexes:          median {median('no_advisor'):.2f} s")
    print(f"the same catalog queries in one psql session:   median {median('psql'):.2f} s (reference)")
    print(f"ratio perfcheck catalog checks / psql:          {ratio:.2f}x   goal <= 1.5x "
          f"(with the advisor: {median('audit') / median('psql'):.2f}x)")
    print(f"  fixed cost (an audit of db.timeouts only):    median {median('trivial'):.2f} s "
          "(Python, imports, connect, report)")
    print(f"perfcheck peak RSS (GNU time, the process alone): median {rss:.0f} MB   goal < 150 MB")
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; perfcheck as installed, bytecode cached)")
    exercised = advisor["mode"] == "hypopg" and (advisor["statements_analysed"] or 0) >= HOT_TABLES \
        and (advisor["recommendations"] or 0) >= 1
    met = exercised and median("audit") < 3 and ratio <= 1.5 and rss < 150
    print(f"GOAL {'met' if met else 'missed'}: audit with the advisor {median('audit'):.2f} s (goal < 3 s; advisor "
          f"{'exercised' if exercised else 'NOT exercised'}: {advisor['statements_analysed']} statements analysed, "
          f"{advisor['recommendations']} recommendations, mode {advisor['mode']}), catalog checks {ratio:.2f}x psql "
          f"(goal <= 1.5x), peak RSS {rss:.0f} MB (goal < 150 MB)")


if __name__ == "__main__":
    main()
