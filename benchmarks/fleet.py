"""How long does a fleet audit take next to its slowest member?

Builds, in a throwaway cluster (perfcheck.demo.sandbox), N databases (default 20): one with a
bigger catalog (--big-tables tables, the slowest to audit) and the rest small; then prints

  * the wall time of `perfcheck audit --db URL --only database` for each database alone
    (the slowest of them is the reference),
  * the wall time of `perfcheck audit --all --only database` over all of them at once
    (fleet.concurrency = N),

GOAL: the fleet within 2x the slowest single audit.

Run: .venv/bin/python benchmarks/fleet.py [--databases 20] [--big-tables 300]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from perfcheck.demo.sandbox import PostgresServer


def build(url: str, tables: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        batch = [f"CREATE TABLE t{i} (id bigserial PRIMARY KEY, a int, b text); CREATE INDEX ON t{i} (a)"
                 for i in range(tables)]
        for start in range(0, len(batch), 100):
            conn.execute(";".join(batch[start:start + 100]))
        for i in range(min(tables, 50)):
            conn.execute(f"SELECT * FROM t{i} WHERE b = 'x'")
        conn.execute("ANALYZE")


def timed(args: list[str]) -> tuple[float, int, str]:
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "perfcheck", *args], capture_output=True, text=True)
    return time.monotonic() - started, proc.returncode, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", type=int, default=20)
    parser.add_argument("--big-tables", type=int, default=300)
    args = parser.parse_args()
    server = PostgresServer()
    server.start()
    try:
        urls = []
        for i in range(args.databases):
            server.psql(f"CREATE DATABASE fleet{i}")
            urls.append(server.url_for(f"fleet{i}"))
            build(urls[-1], args.big_tables if i == 0 else 10)
        singles = []
        for url in urls:
            took, code, _ = timed(["audit", "--db", url, "--only", "database", "-f", "json"])
            singles.append(took)
        with tempfile.TemporaryDirectory() as tmp:
            cfg = Path(tmp) / "perfcheck.yaml"
            cfg.write_text(f"fleet:\n  concurrency: {args.databases}\n  targets:\n"
                           + "".join(f"    - {{name: db{i}, db: '{u}'}}\n" for i, u in enumerate(urls)))
            fleet, code, out = timed(["audit", "-c", str(cfg), "--all", "--only", "database", "-f", "json"])
        slowest = max(singles)
        summary = json.loads(out)
        judged = sum(1 for t in summary["targets"] if t["reached"] and t["categories"].get("database") is not None)
        print(f"single audits: slowest {slowest:.2f} s, median {sorted(singles)[len(singles) // 2]:.2f} s, "
              f"sum {sum(singles):.1f} s")
        print(f"fleet of {args.databases} (exit {code}, {judged} databases judged): "
              f"{fleet:.2f} s = {fleet / slowest:.2f}x the slowest")
        print(f"GOAL fleet < 2x slowest single audit: {'met' if fleet < 2 * slowest else 'NOT met'}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
