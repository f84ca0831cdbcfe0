"""The index advisor on a realistic multi-table workload: skewed data, typed literals,
the shapes of issue 16 (a recent range, a rare value, a LIKE prefix under a non-C
collation, an OR across two columns, lookups and sorts), measured by executing it.

    .venv/bin/python benchmarks/advisor_workload.py [--calls 20] [--distinct 1000] [--runs 3] [--verbose]

1. A throwaway PostgreSQL (pg_stat_statements, HypoPG); the workload runs with no
   secondary index (the baseline), each statement --calls times with random parameters
   (the same ones in every run); its time is pg_stat_statements' total execution time.
2. perfcheck's advice (default thresholds) is built with perfcheck.apply.build.apply;
   the workload runs again; the indexes are dropped.
3. A hand-tuned set (the indexes a person writes for these statements) is built; the
   workload runs again.
4. The advisor's own time (the median of --runs runs) and memory over --distinct distinct
   statements.
Last line: `GOAL met|missed: …` (speed-up within 1.5× of the hand-tuned set's with no more
index bytes; 1,000 statements under 10 s and 200 MB).
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import psycopg  # noqa: E402

from perfcheck.advisor import advise  # noqa: E402
from perfcheck.apply.build import apply  # noqa: E402
from perfcheck.demo.sandbox import PostgresServer  # noqa: E402

SCHEMA = r"""
SELECT setseed(0.3);
CREATE EXTENSION pg_stat_statements;
CREATE EXTENSION hypopg;
CREATE TABLE plays (id int PRIMARY KEY, track_id int NOT NULL, listener text NOT NULL, played_at timestamptz NOT NULL,
                    played_on date NOT NULL);
INSERT INTO plays SELECT g, (random() * 19999)::int, 'l' || (g % 5000), now() - g * interval '30 seconds',
       (now() - g * interval '30 seconds')::date FROM generate_series(1, 400000) g;
CREATE TABLE alerts (id int PRIMARY KEY, status text NOT NULL, host text NOT NULL, raised_at timestamptz NOT NULL);
INSERT INTO alerts SELECT g, CASE WHEN g % 1000 = 0 THEN 'failed' WHEN g % 9 = 0 THEN 'muted' ELSE 'ok' END,
       'h' || (g % 300), now() - g * interval '1 second' FROM generate_series(1, 300000) g;
CREATE TABLE people (id int PRIMARY KEY, name text COLLATE "en-x-icu" NOT NULL, city text NOT NULL);
INSERT INTO people SELECT g, md5(g::text), 'c' || (g % 400) FROM generate_series(1, 200000) g;
CREATE TABLE contacts (id int PRIMARY KEY, email text NOT NULL, phone text NOT NULL, note text);
INSERT INTO contacts SELECT g, 'u' || g || '@example.com', '+33' || (600000000 + g), repeat('n', 40)
  FROM generate_series(1, 200000) g;
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, status text NOT NULL, total int NOT NULL,
                     created_at timestamptz NOT NULL);
INSERT INTO orders SELECT g, (random() * 49999)::int, (ARRAY['new','paid','shipped','done'])[1 + g % 4], g % 700,
       now() - g * interval '1 minute' FROM generate_series(1, 300000) g;
"""

R = random.Random(11)
VERBOSE = "--verbose" in sys.argv

# (statement with %s parameters and typed literals, a generator of parameters)
WORKLOAD = [
    ("SELECT count(*) FROM plays WHERE played_at > now() - interval '1 hour'", lambda: ()),
    ("SELECT track_id, played_at FROM plays WHERE played_at > now() - interval '10 minutes' ORDER BY played_at DESC",
     lambda: ()),
    ("SELECT * FROM plays WHERE track_id = %s ORDER BY played_at DESC LIMIT 20", lambda: (R.randint(0, 19999),)),
    ("SELECT id FROM plays WHERE listener = %s AND played_on = date '2026-01-01'", lambda: (f"l{R.randint(0, 4999)}",)),
    ("SELECT * FROM alerts WHERE status = %s ORDER BY raised_at DESC", lambda: ("failed",)),
    ("SELECT count(*) FROM alerts WHERE status = %s AND host = %s", lambda: ("failed", f"h{R.randint(0, 299)}")),
    ("SELECT id, name FROM people WHERE name LIKE %s", lambda: (f"{R.choice('0123456789abcdef')}{R.choice('0123456789abcdef')}{R.choice('0123456789abcdef')}%",)),
    ("SELECT id, note FROM contacts WHERE email = %s OR phone = %s",
     lambda: (f"u{R.randint(1, 200000)}@example.com", f"+33{600000000 + R.randint(1, 200000)}")),
    ("SELECT * FROM orders WHERE customer_id = %s", lambda: (R.randint(0, 49999),)),
    ("SELECT * FROM orders WHERE customer_id = %s AND created_at > now() - interval '30 days'",
     lambda: (R.randint(0, 49999),)),
]

HAND_TUNED = [
    "CREATE INDEX ON plays (played_at)",
    "CREATE INDEX ON plays (track_id, played_at)",
    "CREATE INDEX ON plays (listener, played_on)",
    "CREATE INDEX ON alerts (host) WHERE status = 'failed'",
    "CREATE INDEX ON alerts (raised_at) WHERE status = 'failed'",
    "CREATE INDEX ON people (name text_pattern_ops)",
    "CREATE INDEX ON contacts (email)",
    "CREATE INDEX ON contacts (phone)",
    "CREATE INDEX ON orders (customer_id, created_at)",
]


def run_workload(conn: psycopg.Connection, params: list[list[tuple]]) -> float:
    """Run every statement with its parameters; the workload's execution time (ms)."""
    conn.execute("SELECT pg_stat_statements_reset()")
    for (statement, _), values in zip(WORKLOAD, params):
        for args in values:
            conn.execute(statement, args).fetchall()
    rows = conn.execute("SELECT query, total_exec_time FROM pg_stat_statements WHERE query NOT LIKE '%%perfcheck%%' "
                        "AND query NOT LIKE '%%pg_stat_statements%%' AND dbid = (SELECT oid FROM pg_database "
                        "WHERE datname = current_database()) ORDER BY 2 DESC").fetchall()
    if VERBOSE:
        for query, ms in rows[:4]:
            print(f"    {ms:9.1f} ms  {' '.join(query.split())[:110]}")
    return float(sum(r[1] for r in rows))


def secondary_indexes(conn: psycopg.Connection, show: bool = False) -> tuple[list[str], int]:
    rows = conn.execute("SELECT i.indexrelid::regclass::text, pg_relation_size(i.indexrelid), "
                        "pg_get_indexdef(i.indexrelid) FROM pg_index i "
                        "JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'public'::regnamespace "
                        "AND NOT i.indisprimary ORDER BY 2 DESC").fetchall()
    if show and VERBOSE:  # each index's size, to see where the bytes go
        for _, size, definition in rows:
            print(f"    {size / 1048576:6.2f} MB  {definition}")
    return [r[0] for r in rows], sum(r[1] for r in rows)


def drop_secondary(conn: psycopg.Connection) -> None:
    for name in secondary_indexes(conn)[0]:
        conn.execute(f"DROP INDEX {name}")


def distinct_statements(count: int) -> list[tuple[str, tuple]]:
    """`count` distinct texts: select lists × filters over the workload's tables."""
    shapes = [
        ("plays", ["id", "track_id", "listener", "played_at", "played_on", "track_id + 1 AS t", "listener || 'x' AS lx",
                   "played_on + 1 AS next_day", "id % 7 AS bucket"],
         [("track_id = %s", lambda: (R.randint(0, 19999),)), ("played_at > now() - interval '1 hour'", lambda: ()),
          ("listener = %s AND played_on = date '2026-01-01'", lambda: ("l7",))]),
        ("alerts", ["id", "status", "host", "raised_at", "length(host) AS n", "id * 2 AS d", "upper(host) AS h",
                    "raised_at::date AS day", "id % 3 AS b"],
         [("status = %s", lambda: ("failed",)), ("host = %s AND status = %s", lambda: ("h3", "failed"))]),
        ("orders", ["id", "customer_id", "status", "total", "created_at", "total * 2 AS d", "total + 1 AS t1",
                    "created_at::date AS day", "id % 5 AS b"],
         [("customer_id = %s", lambda: (R.randint(0, 49999),)),
          ("customer_id = %s AND created_at > now() - interval '30 days'", lambda: (R.randint(0, 49999),))]),
    ]
    out = []
    for n in range(1, 2 ** 9):
        for table, columns, filters in shapes:
            select = ", ".join(c for i, c in enumerate(columns) if n >> i & 1)
            for where, gen in filters:
                out.append((f"SELECT {select} FROM {table} WHERE {where}", gen()))
                if len(out) == count:
                    return out
    return out


def advise_many(url: str, count: int, runs: int):
    """The advisor over every distinct statement: its advice, the median seconds of `runs`
    runs and the process's max RSS (MB). The timed runs go without tracemalloc, which
    slows allocation-heavy Python (parsing) several times over; one more run with it
    gives the Python heap's peak."""
    thresholds = {"min_calls": 1, "min_mean_ms": 0, "max_statements": count}
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        many = advise(url, thresholds)
        times.append(time.perf_counter() - started)
    many_s = statistics.median(times)
    tracemalloc.start()
    advise(url, thresholds)
    peak_mb = tracemalloc.get_traced_memory()[1] / 1048576
    tracemalloc.stop()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"advisor over {count} distinct statements: {many_s:.2f} s (median of {', '.join(f'{t:.2f}' for t in times)}), "
          f"{many.statements_analysed} analysed, partial={many.partial}, Python peak {peak_mb:.0f} MB, "
          f"process max RSS {rss_mb:.0f} MB")
    return many, many_s, rss_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20, help="executions of each workload statement")
    parser.add_argument("--distinct", type=int, default=1000, help="distinct statements for the advisor's cost")
    parser.add_argument("--runs", type=int, default=3, help="timed advisor runs over them (the median is judged)")
    parser.add_argument("--verbose", action="store_true", help="the costliest statements of each run")
    args = parser.parse_args()
    server = PostgresServer(settings={"shared_buffers": "'256MB'", "pg_stat_statements.max": "10000",
                                      "max_parallel_workers_per_gather": "0"}).start()
    try:
        server.psql("CREATE DATABASE bench")
        url = server.url_for("bench")
        server.psql(SCHEMA, database="bench")
        server.psql("VACUUM ANALYZE", database="bench")
        params = [[gen() for _ in range(args.calls)] for _, gen in WORKLOAD]
        # No server-side prepared statements: pg_stat_statements then keeps each text normalised
        # (interval $1), as it lists an application's, and every run is planned with its values.
        with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
            base_ms = run_workload(conn, params)
            run_workload(conn, params)  # pg_stat_statements holds the workload the advisor reads
            started = time.perf_counter()
            advice = advise(url, {"min_calls": min(10, args.calls)})
            advise_s = time.perf_counter() - started
            result = apply(advice, url)
            print(f"advice: {len(advice.recommendations)} index(es) in {advise_s:.2f} s ({advice.mode}); "
                  f"{advice.statements_rewritten} statement(s) rewritten, {advice.unplannable} unplannable; "
                  f"skipped: {advice.skipped}")
            for rec in advice.recommendations:
                values = "; ".join(f"values {u.values} share {u.share}" for u in rec.statements if u.values)
                print(f"  {rec.label}  {values}")
            conn.execute("ANALYZE")
            ours_ms = run_workload(conn, params)
            ours_names, ours_bytes = secondary_indexes(conn, show=True)
            drop_secondary(conn)
            for statement in HAND_TUNED:
                conn.execute(statement)
            conn.execute("ANALYZE")
            hand_ms = run_workload(conn, params)
            hand_names, hand_bytes = secondary_indexes(conn, show=True)
            drop_secondary(conn)
            conn.execute("SELECT pg_stat_statements_reset()")
            statements = distinct_statements(int(args.distinct * 1.1))
            for statement, values in statements:
                conn.execute(statement, values).fetchall()
            count = conn.execute("SELECT count(*) FROM pg_stat_statements WHERE query LIKE 'SELECT % WHERE %'").fetchone()[0]
        ours_x, hand_x = base_ms / ours_ms, base_ms / hand_ms
        print(f"\nworkload ({len(WORKLOAD)} statements × {args.calls} calls): no new index {base_ms:.0f} ms; "
              f"perfcheck's advice {ours_ms:.0f} ms ({ours_x:.1f}×, {len(ours_names)} indexes, {ours_bytes / 1048576:.1f} MB, "
              f"{len(result.failed)} failed); hand-tuned {hand_ms:.0f} ms ({hand_x:.1f}×, {len(hand_names)} indexes, "
              f"{hand_bytes / 1048576:.1f} MB)")
        many, many_s, rss_mb = advise_many(url, count, args.runs)
        speed_ok = ours_x * 1.5 >= hand_x and ours_bytes <= hand_bytes
        scale_ok = many_s < 10 and rss_mb < 200 and count >= 1000 and not many.partial
        verdict = "met" if speed_ok and scale_ok else "missed"
        print(f"GOAL {verdict}: speed-up {ours_x:.1f}× vs hand-tuned {hand_x:.1f}× (within 1.5×: {ours_x * 1.5 >= hand_x}), "
              f"index bytes {ours_bytes / 1048576:.1f} vs {hand_bytes / 1048576:.1f} MB; {count} statements in {many_s:.1f} s "
              f"(< 10 s), {rss_mb:.0f} MB (< 200 MB)")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
