"""What one index entry costs a table's writes: the figure behind db.missing_indexes'
`index_entry_ms` (advisor/write_cost.py).

    .venv/bin/python benchmarks/index_entry_cost.py [--rows 200000] [--runs 3]

A throwaway PostgreSQL; a table takes --rows inserts (random int keys and md5 text, a
CHECKPOINT included so the WAL and dirty pages are paid for) with no secondary index,
one and two; the median extra time per index entry is printed. Bulk inserts are the cheap
case: an application's single-row writes, the index's share of VACUUM and cache misses
cost more, which is why the default (0.02 ms) is about three times this figure.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import psycopg  # noqa: E402

from perfcheck.demo.sandbox import PostgresServer  # noqa: E402

INDEXES = ["CREATE INDEX ON t (a)", "CREATE INDEX ON t (b)"]


def insert_s(conn: psycopg.Connection, indexes: int, rows: int) -> float:
    conn.execute("DROP TABLE IF EXISTS t; CREATE TABLE t (id bigserial PRIMARY KEY, a int, b text, c int)")
    for statement in INDEXES[:indexes]:
        conn.execute(statement)
    started = time.perf_counter()
    conn.execute("INSERT INTO t (a, b, c) SELECT (random() * 1e6)::int, md5(g::text), g "
                 "FROM generate_series(1, %s) g", (rows,))
    conn.execute("CHECKPOINT")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    server = PostgresServer().start()
    try:
        server.psql("CREATE DATABASE entries")
        with psycopg.connect(server.url_for("entries"), autocommit=True) as conn:
            insert_s(conn, 0, args.rows)  # warm-up: the first run also grows the files and caches
            times: dict[int, list[float]] = {0: [], 1: [], 2: []}
            for _ in range(args.runs):  # interleaved, so that a change of load hits every case alike
                for n in times:
                    times[n].append(insert_s(conn, n, args.rows))
            median = {n: statistics.median(t) for n, t in times.items()}
        for n in (1, 2):
            per_entry = (median[n] - median[0]) / (args.rows * n) * 1000
            print(f"{n} secondary index(es): {median[n]:.2f} s vs {median[0]:.2f} s without; "
                  f"{per_entry:.4f} ms per index entry")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
