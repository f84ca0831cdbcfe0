"""How the cache checks scale with the number of keys, and how their big-key report
compares with `redis-cli --memkeys` on the same data.

    .venv/bin/python benchmarks/redis_scale.py [--sizes 100000 1000000] [--runs 3]

For each size, a throwaway redis-server of its own is filled with DEBUG POPULATE (three
key families of ~120-byte strings) plus 42 planted big keys (strings of 110 KB-3.3 MB,
hashes of 20k-90k fields, sets of 20k-50k members). Then, on the same data:

* `perfcheck audit --redis URL --only cache --format json` with the default budgets
  (sample_seconds 1.0, window_s 1.0), as a user runs it: wall time of the whole command,
  the audit's own duration_s, peak RSS of the process (the goal: under 2 s and 150 MB,
  flat as the keys grow), how much of the keyspace the scan reached, and how many of the
  20 largest keys it names (cache.big_keys with top: 20, so that the report may name 20);
* the same with a budget big enough for a full scan, for the trade-off;
* `redis-cli --memkeys`: wall time, the keys it names (Redis 7.0's redis-cli names the
  biggest key of each type), and how many of those perfcheck also names.

The 20 largest keys are known exactly: MEMORY USAGE of every planted key (the populated
ones are ~180 bytes each, far below any planted one).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from perfcheck.demo.sandbox import RedisServer

FAMILIES = (("user", 0.4), ("session", 0.3), ("product", 0.3))


def fill(client: redis.Redis, total: int) -> list[str]:
    """Populate `total` small keys and plant the big ones; returns the planted key names."""
    for prefix, share in FAMILIES:
        client.execute_command("DEBUG", "POPULATE", int(total * share), prefix, 120)
    planted = []
    for i in range(30):
        key = f"blob:{i}"
        client.set(key, b"x" * ((i + 1) * 110 * 1024))
        planted.append(key)
    for i in range(8):
        key = f"catalog:{i}"
        for start in range(0, (i + 2) * 10_000, 10_000):
            client.hset(key, mapping={f"field:{n}": n for n in range(start, start + 10_000)})
        planted.append(key)
    for i in range(4):
        key = f"members:{i}"
        members = [f"member:{n}" for n in range((i + 2) * 10_000)]
        for start in range(0, len(members), 10_000):
            client.sadd(key, *members[start:start + 10_000])
        planted.append(key)
    return planted


def true_top(client: redis.Redis, planted: list[str], n: int = 20) -> list[str]:
    sizes = {key: client.memory_usage(key) for key in planted}
    return sorted(sizes, key=sizes.get, reverse=True)[:n]


def run_measured(args: list[str]) -> tuple[float, int, str]:
    """Wall time, peak RSS in MB (this child alone, from wait4) and stdout of a command."""
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode()
    if proc.returncode != 0:
        raise RuntimeError(f"{args[0]} exited {proc.returncode}")
    return wall, usage.ru_maxrss // 1024, text


def perfcheck_run(url: str, config: Path) -> dict:
    wall, rss_mb, out = run_measured([sys.executable, "-m", "perfcheck", "audit", "--redis", url, "--only", "cache",
                                      "--format", "json", "--config", str(config)])
    report = json.loads(out)
    big = next(c for c in report["checks"] if c["id"] == "cache.big_keys")
    return {"wall_s": wall, "audit_s": report["duration_s"], "rss_mb": rss_mb,
            "scanned": big["metrics"]["scanned"], "scan_s": big["metrics"]["scan_s"],
            "named": [f["object"] for f in big["findings"]]}


def memkeys_run(port: int) -> dict:
    wall, rss_mb, out = run_measured(["redis-cli", "-p", str(port), "--memkeys"])
    named = re.findall(r"^Biggest\s+\w+ found '\"(.*)\"' has", out, re.M)
    return {"wall_s": wall, "rss_mb": rss_mb, "named": named}


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def bench(total: int, runs: int, workdir: Path) -> None:
    server = RedisServer(args=["--enable-debug-command", "yes"]).start()
    try:
        client = redis.Redis(port=server.port)
        started = time.perf_counter()
        planted = fill(client, total)
        top = true_top(client, planted)
        keys = client.dbsize()
        print(f"\n== {keys:,} keys ({client.info('memory')['used_memory_human']} used), "
              f"filled in {time.perf_counter() - started:.1f} s; load average {os.getloadavg()[0]:.1f}")
        default = workdir / "default.yaml"
        default.write_text("checks:\n  cache.big_keys:\n    thresholds: {top: 20}\n")
        full = workdir / "full.yaml"
        full.write_text("redis: {sample_seconds: 120}\nchecks:\n  cache.big_keys:\n    thresholds: {top: 20}\n")

        results = [perfcheck_run(server.url, default) for _ in range(runs)]
        found = [len(set(r["named"]) & set(top)) for r in results]
        print(f"perfcheck, default budgets ({runs} runs; median, [min-max]):")
        for label, key, unit in (("wall time of the command", "wall_s", "s"), ("audit duration_s", "audit_s", "s"),
                                 ("peak RSS", "rss_mb", "MB"), ("keys scanned", "scanned", ""),
                                 ("scan time", "scan_s", "s")):
            values = [r[key] for r in results]
            print(f"  {label:26} {median(values):>10,.2f} {unit:3} [{min(values):,.2f}-{max(values):,.2f}]")
        print(f"  {'of the 20 largest keys':26} {median(found):>10} named  [{min(found)}-{max(found)}]")

        whole = perfcheck_run(server.url, full)
        print(f"perfcheck, full scan (sample_seconds 120): wall {whole['wall_s']:.2f} s, audit {whole['audit_s']:.2f} s, "
              f"peak RSS {whole['rss_mb']} MB, scanned {whole['scanned']:,} keys in {whole['scan_s']:.2f} s, "
              f"{len(set(whole['named']) & set(top))} of the 20 largest named")

        print(f"  (load average now {os.getloadavg()[0]:.1f}: the server and the client share {os.cpu_count()} CPUs "
              "with everything else on the machine)")
        memkeys = memkeys_run(server.port)
        also = set(memkeys["named"]) & set(results[0]["named"])
        print(f"redis-cli --memkeys: wall {memkeys['wall_s']:.2f} s, peak RSS {memkeys['rss_mb']} MB, names "
              f"{len(memkeys['named'])} keys (the biggest of each type: {', '.join(memkeys['named'])}), "
              f"{len(set(memkeys['named']) & set(top))} of them among the 20 largest; perfcheck (default budgets, "
              f"first run) also names {len(also)} of those {len(memkeys['named'])}")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"perfcheck cache checks vs redis-cli --memkeys; {os.cpu_count()} CPUs; "
          f"{subprocess.run(['redis-server', '--version'], capture_output=True, text=True).stdout.split()[2]}")
    with tempfile.TemporaryDirectory() as workdir:
        for total in args.sizes:
            bench(total, args.runs, Path(workdir))


if __name__ == "__main__":
    main()
