"""A database audit on a huge catalog: schema-per-tenant, 1,000 / 10,000 / 100,000 relations.

    .venv/bin/python benchmarks/huge_schema.py [--sizes 1000 10000 100000] [--runs 3] [--statements 5000]

One throwaway PostgreSQL (max_locks_per_transaction raised for the build only). Tenants
get a schema each with TABLES_PER_TENANT tables; every table has a primary key and one
secondary index, so a table is three relations (table, two indexes; counted from
pg_class, relkind r and i, outside the system schemas). The catalog grows from one size
to the next; pg_stat_statements holds --statements distinct statements over the tenants'
tables throughout. At each size, --runs times, interleaved:

* `perfcheck audit --db URL --only database --skip db.missing_indexes --format json`:
  wall time and peak RSS of the process alone (GNU time);
* the reference: the same catalog queries in one psql session: the statements the
  audit sent, recorded from the server's log and replayed (recorded.py).

It prints the curve (seconds and MB against relations, and the cost per 1,000 relations
beyond the fixed cost, which should stay flat if the cost grows linearly) and a last line
`GOAL met|missed`: at the largest size < 15 s and < 400 MB (issue 13), growth no worse
than linear (cost per 1,000 relations at the largest size within 2x of that at 10,000).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from measure import installed_env, median, run_measured, spread
from perfcheck.demo.sandbox import PostgresServer
from recorded import psql_reference

TABLES_PER_TENANT = 10
RELATIONS_PER_TABLE = 3


def grow(url: str, tables_now: int, tables_wanted: int) -> None:
    """Add tenants until there are `tables_wanted` tables (a transaction per 100 tables)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET pg_stat_statements.track_utility = off")
        batch: list[str] = []
        for t in range(tables_now, tables_wanted):
            tenant, table = divmod(t, TABLES_PER_TENANT)
            if table == 0:
                batch.append(f"CREATE SCHEMA tenant{tenant}")
            batch += [f"CREATE TABLE tenant{tenant}.t{table} (id bigserial PRIMARY KEY, account_id int, "
                      f"name text, created_at timestamptz)",
                      f"CREATE INDEX ON tenant{tenant}.t{table} (account_id)"]
            if len(batch) >= 200:
                conn.execute("BEGIN;" + ";".join(batch) + ";COMMIT")
                batch = []
        if batch:
            conn.execute("BEGIN;" + ";".join(batch) + ";COMMIT")


def workload(url: str, tables: int, statements: int) -> None:
    """`statements` distinct statements over the first tenants' tables (a tenth called 12 times)."""
    with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")
        shapes = ("SELECT id, name FROM tenant{s}.t{t} WHERE id = %s",
                  "SELECT id FROM tenant{s}.t{t} WHERE account_id = %s ORDER BY id LIMIT 10",
                  "SELECT count(*) FROM tenant{s}.t{t} WHERE created_at > now() - interval '1 day' AND id > %s")
        made = 0
        for t in range(tables):
            tenant, table = divmod(t, TABLES_PER_TENANT)
            for shape in shapes:
                if made >= statements:
                    return
                for _ in range(12 if made % 10 == 0 else 1):
                    conn.execute(shape.format(s=tenant, t=table), (1,)).fetchall()
                made += 1


def relations(server: PostgresServer) -> int:
    return int(server.psql("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                           "WHERE c.relkind IN ('r', 'i') AND n.nspname LIKE 'tenant%'", "bench"))


def measure_size(server: PostgresServer, url: str, runs: int, workdir: Path) -> dict:
    audit = [sys.executable, "-m", "perfcheck", "audit", "--db", url, "--only", "database",
             "--skip", "db.missing_indexes", "--format", "json"]
    trivial = [*audit[:6], "--only", "db.timeouts", "--format", "json"]  # start-up, connect, report: the fixed cost
    ours, theirs, fixed, errors = [], [], [], {}
    env = installed_env()  # perfcheck as installed: bytecode cached
    run_measured(audit, env=env)  # warm-up: the server's catalog caches
    # The reference replays the statements this audit sends, recorded from the server's log.
    psql, what = psql_reference(server.bindir, url, server.root / "log", audit, workdir)
    print(f"  psql reference: {what}", flush=True)
    for _ in range(runs):
        wall, rss, out = run_measured(audit, env=env)
        ours.append((wall, rss or 0))
        errors.update({c["id"]: c["summary"][:160] for c in json.loads(out)["checks"] if c["status"] == "error"})
        theirs.append(run_measured(psql)[0])
        fixed.append(run_measured(trivial, env=env)[0])
    return {"wall": [w for w, _ in ours], "rss": [r for _, r in ours], "psql": theirs, "fixed": fixed,
            "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000], help="relations")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--statements", type=int, default=5000)
    args = parser.parse_args()
    server = PostgresServer(settings={"pg_stat_statements.max": "10000", "max_locks_per_transaction": "1024"}).start()
    rows = []
    try:
        server.psql("CREATE DATABASE bench")
        url = server.url_for("bench")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
        tables = 0
        with tempfile.TemporaryDirectory() as workdir:
            for size in sorted(args.sizes):
                started = time.perf_counter()
                wanted = -(-size // RELATIONS_PER_TABLE)
                grow(url, tables, wanted)
                tables = wanted
                workload(url, tables, args.statements)
                count = relations(server)
                print(f"\n== {count:,} relations ({tables:,} tables in {tables // TABLES_PER_TENANT:,} schemas), "
                      f"built in {time.perf_counter() - started:.0f} s; load average {os.getloadavg()[0]:.1f}", flush=True)
                result = measure_size(server, url, args.runs, Path(workdir))
                print(f"  perfcheck audit --only database: {spread(result['wall'], ' s')}, peak RSS "
                      f"{spread(result['rss'], ' MB', 0)}; psql, the same catalog queries: {spread(result['psql'], ' s')}; "
                      f"ratio {median(result['wall']) / median(result['psql']):.2f}x"
                      f"; fixed cost (an audit of db.timeouts) {spread(result['fixed'], ' s')}", flush=True)
                for check_id, summary in result["errors"].items():
                    print(f"  ERROR {check_id}: {summary}")
                rows.append((count, median(result["wall"]), median(result["rss"]), median(result["psql"]),
                             median(result["fixed"]), len(result["errors"])))
    finally:
        server.stop()
    print("\ncurve (relations, perfcheck s, MB, psql s, perfcheck s per 1,000 relations beyond its fixed cost):")
    per_k = []
    for count, wall, rss, ref, fixed, _ in rows:
        per_k.append((wall - fixed) / (count / 1000))
        print(f"  {count:>8,}  {wall:7.2f} s  {rss:6.0f} MB  {ref:6.2f} s  {per_k[-1]:8.4f} s")
    count, wall, rss, _, _, failed = rows[-1]
    linear = len(per_k) < 2 or per_k[-1] <= 2 * per_k[-2]
    met = wall < 15 and rss < 400 and linear and not failed
    print(f"  (load average now {os.getloadavg()[0]:.1f})")
    print(f"GOAL {'met' if met else 'missed'}: {count:,} relations, {args.statements:,} statements: {wall:.1f} s "
          f"(goal < 15 s), {rss:.0f} MB (goal < 400 MB), {failed} checks in error (goal 0), cost per 1,000 relations "
          f"{per_k[-1]:.3f} s at the largest size vs {per_k[-2] if len(per_k) > 1 else float('nan'):.3f} s at the one "
          "before (goal: linear, within 2x)")


if __name__ == "__main__":
    main()
