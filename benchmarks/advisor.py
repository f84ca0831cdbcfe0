"""The index advisor against a generated workload, measured by executing it.

    .venv/bin/python benchmarks/advisor.py [--calls 20] [--distinct 1000]

1. A throwaway PostgreSQL (pg_stat_statements, HypoPG) with tables of 100k-300k rows and
   no secondary index, and a workload of 24 distinct statements (lookups, joins, sorts
   under LIMIT, ranges, IN lists, an expression, a view, a CTE, a partitioned table,
   UPDATE/DELETE, and statements no index helps), each run --calls times with random
   parameters (the same ones before and after).
2. perfcheck's advice (default thresholds, HypoPG-verified) is applied with
   perfcheck.apply.build.apply (CREATE INDEX CONCURRENTLY, one at a time).
3. The workload runs again. Figures: each statement's mean execution time
   (pg_stat_statements' mean_exec_time, reset between runs) before and after, their sum,
   the indexes built and their size.
4. The indexes are dropped, pg_stat_statements reset and filled with --distinct distinct
   statements (each run once); the advisor's own run time over all of them is measured
   (min_calls 1, max_statements = --distinct), and with the default top-200 limit.
   Reference, in the same run: a plain EXPLAIN of every one of those statements in one
   session (the least any plan-based advisor must do), and the ratio.
The last line is the GOAL verdict: the advisor over the default top 200 in < 3 s (the
audit's goal with the advisor on, issue 13) and the workload faster after the advice.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import psycopg  # noqa: E402

from perfcheck.advisor import advise  # noqa: E402
from perfcheck.apply.build import apply  # noqa: E402
from perfcheck.demo.sandbox import PostgresServer  # noqa: E402

SCHEMA = """
SELECT setseed(0.7);
CREATE EXTENSION pg_stat_statements;
CREATE EXTENSION hypopg;
CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL, country text, status text, created_at timestamptz,
                        active bool);
INSERT INTO customers SELECT g, 'customer' || g || '@example.com', 'c' || (g % 60), (ARRAY['new','vip','gone'])[1 + g % 3],
       timestamptz '2020-01-01' + (random() * 1500) * interval '1 day', g % 10 <> 0 FROM generate_series(1, 200000) g;
CREATE TABLE orders (id int PRIMARY KEY, customer_id int, status text, region text, total numeric, created_at timestamptz);
INSERT INTO orders SELECT g, 1 + (random() * 199999)::int, (ARRAY['new','paid','shipped','done','cancelled'])[1 + g % 5],
       'r' || (g % 20), (random() * 500)::int, timestamptz '2022-01-01' + g * interval '2 minutes'
  FROM generate_series(1, 300000) g;
CREATE TABLE products (id int PRIMARY KEY, sku text, category_id int, price numeric);
INSERT INTO products SELECT g, 'sku-' || g, g % 500, (random() * 1000)::int FROM generate_series(1, 100000) g;
CREATE TABLE sessions (id int PRIMARY KEY, token text, user_id int, expires_at timestamptz);
INSERT INTO sessions SELECT g, md5(g::text), 1 + (random() * 199999)::int, now() + (random() * 30) * interval '1 day'
  FROM generate_series(1, 150000) g;
CREATE TABLE events (id bigint, account_id int, kind text, created_at timestamptz NOT NULL) PARTITION BY RANGE (created_at);
CREATE TABLE events_2023 PARTITION OF events FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
INSERT INTO events SELECT g, (random() * 4999)::int, 'k' || (g % 40), timestamptz '2023-01-01' + g * interval '4 minutes'
  FROM generate_series(1, 200000) g;
CREATE VIEW active_customers AS SELECT id, email, country FROM customers WHERE active;
"""

R = random.Random(7)


def day() -> str:
    return f"2023-{R.randint(1, 12):02d}-{R.randint(1, 28):02d}"


# (statement with %s parameters, a generator of parameters)
WORKLOAD = [
    ("SELECT * FROM customers WHERE email = %s", lambda: (f"customer{R.randint(1, 200000)}@example.com",)),
    ("SELECT id FROM customers WHERE lower(email) = %s", lambda: (f"customer{R.randint(1, 200000)}@example.com",)),
    ("SELECT id, email FROM customers WHERE country = %s ORDER BY created_at DESC LIMIT 20", lambda: (f"c{R.randint(0, 59)}",)),
    ("SELECT * FROM orders WHERE customer_id = %s", lambda: (R.randint(1, 200000),)),
    ("SELECT * FROM orders WHERE customer_id = %s ORDER BY created_at DESC LIMIT 10", lambda: (R.randint(1, 200000),)),
    ("SELECT count(*) FROM orders WHERE customer_id = %s AND status = %s", lambda: (R.randint(1, 200000), "paid")),
    ("SELECT * FROM orders WHERE status = %s AND region = %s ORDER BY created_at DESC LIMIT 50",
     lambda: ("shipped", f"r{R.randint(0, 19)}")),
    ("SELECT sum(total) FROM orders WHERE created_at BETWEEN %s AND %s", lambda: (d := day(), d + " 06:00")),
    ("SELECT * FROM orders WHERE customer_id IN (%s, %s, %s, %s, %s)", lambda: tuple(R.randint(1, 200000) for _ in range(5))),
    ("SELECT * FROM orders WHERE id IN (%s, %s, %s)", lambda: tuple(R.randint(1, 300000) for _ in range(3))),
    ("UPDATE orders SET total = total WHERE customer_id = %s AND status = %s", lambda: (R.randint(1, 200000), "new")),
    ("DELETE FROM sessions WHERE token = %s", lambda: ("no-such-token",)),
    ("SELECT o.* FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.email = %s",
     lambda: (f"customer{R.randint(1, 200000)}@example.com",)),
    ("SELECT c.email, o.total FROM orders o JOIN customers c ON c.id = o.customer_id ORDER BY o.created_at DESC LIMIT 20",
     lambda: ()),
    ("SELECT * FROM events WHERE account_id = %s AND created_at > %s", lambda: (R.randint(0, 4999), day())),
    ("SELECT * FROM events WHERE kind = %s ORDER BY created_at DESC LIMIT 20", lambda: (f"k{R.randint(0, 39)}",)),
    ("SELECT count(*) FROM events WHERE account_id = %s", lambda: (R.randint(0, 4999),)),
    ("WITH mine AS (SELECT * FROM orders WHERE customer_id = %s) SELECT count(*), sum(total) FROM mine",
     lambda: (R.randint(1, 200000),)),
    ("SELECT * FROM active_customers WHERE email = %s", lambda: (f"customer{R.randint(1, 200000)}@example.com",)),
    ("SELECT * FROM products WHERE sku = %s", lambda: (f"sku-{R.randint(1, 100000)}",)),
    ("SELECT id, price FROM products WHERE category_id = %s ORDER BY price LIMIT 10", lambda: (R.randint(0, 499),)),
    ("SELECT * FROM sessions WHERE user_id = %s AND expires_at > now()", lambda: (R.randint(1, 200000),)),
    # Left out by the advisor: an unfiltered aggregate; a filter matching a fifth of the table
    # (an index-only scan for its count(*) may still pay: the planner decides).
    ("SELECT status, count(*) FROM orders GROUP BY status", lambda: ()),
    ("SELECT count(*) FROM orders WHERE status = %s", lambda: ("done",)),
]


def normalised(statement: str) -> str:
    """As pg_stat_statements lists it: parameters $1…$k, then constants numbered after them."""
    counter = iter(range(1, 100))
    text = re.sub(r"%s", lambda _: f"${next(counter)}", statement)
    return re.sub(r"(?<![\w$])\d+(?![\w])", lambda _: f"${next(counter)}", text)


def run_workload(conn: psycopg.Connection, params: list[list[tuple]]) -> dict[str, float]:
    """Run every statement with its parameters; their mean execution time (ms) from pg_stat_statements."""
    conn.execute("SELECT pg_stat_statements_reset()")
    for (statement, _), values in zip(WORKLOAD, params):
        for args in values:
            cur = conn.execute(statement, args)
            if cur.description:
                cur.fetchall()
    rows = conn.execute("SELECT query, mean_exec_time FROM pg_stat_statements "
                        "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())").fetchall()
    means = dict(rows)
    return {statement: means.get(normalised(statement), float("nan")) for statement, _ in WORKLOAD}


def distinct_statements(count: int) -> list[tuple[str, tuple]]:
    """`count` distinct statement texts over orders (select lists × filters), as an ORM's
    variety gives, each with parameters."""
    columns = ["id", "customer_id", "status", "region", "total", "created_at", "total * 2 AS double_total"]
    customer = lambda: R.randint(1, 200000)  # noqa: E731
    filters = [
        ("customer_id = %s", lambda: (customer(),)),
        ("customer_id = %s AND status = %s", lambda: (customer(), "paid")),
        ("region = %s AND status = %s", lambda: ("r3", "paid")),
        ("created_at BETWEEN %s AND %s", lambda: (d := day(), d + " 06:00")),
        ("customer_id IN (%s, %s)", lambda: (customer(), customer())),
        ("total = %s AND region = %s", lambda: (R.randint(0, 500), "r3")),
        ("customer_id = %s AND created_at > %s", lambda: (customer(), day())),
        ("status = %s AND total > %s", lambda: ("paid", R.randint(0, 500))),
        ("customer_id = %s ORDER BY created_at DESC LIMIT 10", lambda: (customer(),)),
        ("region = %s ORDER BY created_at DESC LIMIT 10", lambda: ("r3",)),
    ]
    out = []
    for n in range(1, 2 ** len(columns)):
        select = ", ".join(c for i, c in enumerate(columns) if n >> i & 1)
        for where, gen in filters:
            out.append((f"SELECT {select} FROM orders WHERE {where}", gen()))
            if len(out) == count:
                return out
    return out


def fill(url: str, statements: list[tuple[str, tuple]]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement, values in statements:
            conn.execute(statement, values).fetchall()


def advisor_run_time(url: str, statements: list[tuple[str, tuple]], count: int, total_before: float,
                     total_after: float) -> None:
    """The advisor over many distinct statements, against plain EXPLAIN of each; the GOAL line."""
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        for statement, values in statements:
            conn.execute("EXPLAIN " + statement, values).fetchall()
        explain_s = time.perf_counter() - started
    print(f"reference: EXPLAIN of each of the {len(statements)} texts in one session: {explain_s:.2f} s")
    timings = []
    for label, thresholds in (("all of them (min_calls 1, max_statements %d)" % count,
                               {"min_calls": 1, "min_mean_ms": 0, "max_statements": count}),
                              ("the default top 200 by total time (min_calls 1)", {"min_calls": 1, "min_mean_ms": 0})):
        started = time.perf_counter()
        advice = advise(url, thresholds)
        took = time.perf_counter() - started
        timings.append(took)
        print(f"advisor over {label}: {took:.2f} s, {advice.statements_analysed} analysed, "
              f"{len(advice.recommendations)} recommendation(s), partial={advice.partial}; "
              f"{took / explain_s:.1f}x the EXPLAIN reference")
    met = timings[1] < 3 and total_after < total_before
    print(f"GOAL {'met' if met else 'missed'}: advisor over the default top 200 in {timings[1]:.2f} s (goal < 3 s), "
          f"all {count} in {timings[0]:.2f} s = {timings[0] / explain_s:.1f}x plain EXPLAIN; workload "
          f"{total_before:.1f} -> {total_after:.1f} ms after the advice (goal: faster)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20, help="executions of each workload statement")
    parser.add_argument("--distinct", type=int, default=1000, help="distinct statements for the advisor's run time")
    args = parser.parse_args()

    server = PostgresServer(settings={"shared_buffers": "'256MB'", "pg_stat_statements.max": "10000",
                                      "max_parallel_workers_per_gather": "0"}).start()
    try:
        server.psql("CREATE DATABASE bench")
        url = server.url_for("bench")
        started = time.perf_counter()
        server.psql(SCHEMA, database="bench")
        server.psql("VACUUM ANALYZE", database="bench")  # as autovacuum would have, long before
        rows = server.psql("SELECT sum(reltuples)::bigint FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace",
                           database="bench")
        print(f"setup: {rows} rows in 5 tables in {time.perf_counter() - started:.1f} s; "
              f"{len(WORKLOAD)} distinct statements × {args.calls} calls")
        params = [[gen() for _ in range(args.calls)] for _, gen in WORKLOAD]
        with psycopg.connect(url, autocommit=True) as conn:
            before = run_workload(conn, params)

            started = time.perf_counter()
            advice = advise(url, {"min_calls": min(10, args.calls)})
            advise_s = time.perf_counter() - started
            started = time.perf_counter()
            result = apply(advice, url)
            apply_s = time.perf_counter() - started
            built = [o for o in result.outcomes if o.status in ("built", "repaired")]
            print(f"\nadvice: {len(advice.recommendations)} index(es) in {advise_s:.2f} s ({advice.mode}); "
                  f"applied in {apply_s:.1f} s: {len(built)} built, {len(result.failed)} failed")
            for outcome in result.outcomes:
                size = f"{(outcome.size_bytes or 0) / 1048576:.1f} MB"
                print(f"  {outcome.status:8} {outcome.rec.label:55} {size:>8}  planner cost "
                      f"{outcome.cost_before:,.0f} → {outcome.cost_after if outcome.cost_after is None else round(outcome.cost_after):,}")

            after = run_workload(conn, params)
            print(f"\n{'statement':100} {'before ms':>10} {'after ms':>9}")
            for statement, _ in WORKLOAD:
                print(f"{statement[:100]:100} {before[statement]:10.2f} {after[statement]:9.2f}")
            total_before, total_after = sum(before.values()), sum(after.values())
            print(f"\nsummed mean execution time: before {total_before:.1f} ms, after {total_after:.1f} ms "
                  f"({total_before / total_after:.0f}× faster); indexes built: {len(built)}, "
                  f"{sum(o.size_bytes or 0 for o in built) / 1048576:.1f} MB")

            # The advisor's own run time over many distinct statements (the indexes dropped again).
            for outcome in built:
                conn.execute(f"DROP INDEX {outcome.rec.qualified_table.rsplit('.', 1)[0]}.{outcome.rec.name}")
            conn.execute("SELECT pg_stat_statements_reset()")
            # A tenth more texts than asked: pg_stat_statements merges the few that jumble alike.
            statements = distinct_statements(int(args.distinct * 1.1))
            started = time.perf_counter()
            with ThreadPoolExecutor(2) as pool:  # two sessions: the fill is only setup
                list(pool.map(lambda half: fill(url, half), (statements[::2], statements[1::2])))
            filled = time.perf_counter() - started
            count = conn.execute("SELECT count(*) FROM pg_stat_statements WHERE query LIKE 'SELECT % FROM orders%'").fetchone()[0]
        print(f"\n{count} distinct statements in pg_stat_statements (filled in {filled:.1f} s)")
        advisor_run_time(url, statements, count, total_before, total_after)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
