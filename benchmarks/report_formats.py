"""How fast, and how big, is each report format for a large report; how fast is a
baseline comparison?

    .venv/bin/python benchmarks/report_formats.py [--checks 40] [--findings 200] [--endpoints 50]

Builds a synthetic report (checks × findings with fixes and evidence, plus an
api.latency check with per-endpoint percentiles), a second one with a share of changes,
and prints per format: render time (best of 3), output size, and the ratio to the
reference measured in the same run: the standard library's fastest serialisation of the
same report (`json.dumps(report.to_dict())`, compact, C encoder), the floor any format
pays to walk it. Then the time to read the JSON back and to compare the two reports, and
the peak memory of the whole run. The last line is the GOAL verdict: every format and the
comparison under 1 s for a report of thousands of findings (a CI step's report must not
be the slow part), each format within 10x of the reference, and the Markdown under
GitHub's 1 MiB job-summary limit. Not part of CI.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import tempfile
import time
from pathlib import Path

from perfcheck.gate.baseline import compare
from perfcheck.model import Applicability, CategoryScore, CheckResult, Finding, Fix, Report, Status
from perfcheck.report import FORMATS, render
from perfcheck.report.json_report import read, to_json


def build(checks: int, findings: int, endpoints: int, seed: int, drift: float = 0.0) -> Report:
    rng = random.Random(seed)
    results = []
    for i in range(checks):
        items = [
            Finding("fail" if j % 7 == 0 else "warn", f"public.table_{i}_{j} (col_{j})",
                    f"foreign key fk_{i}_{j} has no index; joins scan ~{rng.randint(10_000, 9_000_000):,} rows",
                    Fix((f"CREATE INDEX CONCURRENTLY IF NOT EXISTS t{i}_{j}_idx ON public.table_{i}_{j} (col_{j});",),
                        Applicability.SAFE),
                    {"estimated_rows": rng.randint(10_000, 9_000_000), "columns": [f"col_{j}"]})
            for j in range(findings) if rng.random() >= drift / 2
        ] + [Finding("warn", f"public.new_{i}_{j}", "a new problem") for j in range(int(findings * drift))]
        score = rng.uniform(0.2, 1.0)
        results.append(CheckResult(f"db.bench_{i}", "database", "postgres", f"Bench check {i}",
                                   Status.PASS if score >= 0.9 else Status.WARN if score >= 0.5 else Status.FAIL,
                                   score, f"{len(items)} findings", {"value": score}, items))
    per_endpoint = {f"GET /api/resource_{k}": {"p50_ms": rng.uniform(2, 40) * (1 + drift),
                                              "p95_ms": rng.uniform(40, 120) * (1 + drift),
                                              "p99_ms": rng.uniform(120, 300) * (1 + drift), "count": 200}
                    for k in range(endpoints)}
    results.append(CheckResult("api.latency", "api", "http", "Slow responses", Status.WARN, 0.7, "latency",
                               {"endpoints": per_endpoint, "targets_ms": {"p50_ms": 50, "p95_ms": 100, "p99_ms": 200}}))
    return Report(60, [CategoryScore("database", "Database (PostgreSQL)", 60, checks),
                       CategoryScore("api", "API (HTTP)", 70, 1)], results,
                  version="bench", created_at="2026-01-01T00:00:00+00:00", duration_s=1.0)


def best_of(runs: int, fn) -> tuple[float, object]:
    best, value = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return best, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", type=int, default=40)
    parser.add_argument("--findings", type=int, default=200, help="findings per check")
    parser.add_argument("--endpoints", type=int, default=50)
    args = parser.parse_args()

    old = build(args.checks, args.findings, args.endpoints, seed=1)
    new = build(args.checks, args.findings, args.endpoints, seed=1, drift=0.1)
    n_findings = sum(len(c.findings) for c in new.checks)
    print(f"report: {len(new.checks)} checks, {n_findings:,} findings, {args.endpoints} endpoints")
    new.baseline = compare(old, new).to_dict()
    reference, _ = best_of(3, lambda: json.dumps(new.to_dict(), default=str))
    print(f"reference, json.dumps(report.to_dict()) (compact, C encoder): {reference * 1000:.0f} ms")
    print(f"{'format':<10} {'render (best of 3)':>20} {'size':>12} {'x reference':>12}")
    rendered: dict[str, tuple[float, int]] = {}
    for fmt in FORMATS:
        seconds, text = best_of(3, lambda: render(new, fmt))
        rendered[fmt] = (seconds, len(str(text).encode()))
        print(f"{fmt:<10} {seconds * 1000:>17.0f} ms {rendered[fmt][1] / 1024:>9.0f} KiB {seconds / reference:>11.1f}x")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "baseline.json"
        path.write_text(to_json(old))
        seconds, _ = best_of(3, lambda: read(path))
        print(f"read the JSON baseline ({path.stat().st_size / 1024:.0f} KiB): {seconds * 1000:.0f} ms")
    seconds, comp = best_of(3, lambda: compare(old, new))
    print(f"compare: {seconds * 1000:.0f} ms -> {len(comp.regressions):,} regressions, "
          f"{len(comp.improvements):,} improvements, {len(comp.notes):,} notes")
    json.dumps(comp.to_dict())
    print(f"peak memory (max RSS): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print(goal_line(rendered, reference, seconds, n_findings))


def goal_line(rendered: dict[str, tuple[float, int]], reference: float, compare_s: float, findings: int) -> str:
    slowest = max(rendered, key=lambda fmt: rendered[fmt][0])
    worst = max(rendered, key=lambda fmt: rendered[fmt][0] / reference)
    markdown = rendered["markdown"][1] / 1024 / 1024
    met = rendered[slowest][0] < 1 and rendered[worst][0] / reference <= 10 and compare_s < 1 and markdown < 1
    return (f"GOAL {'met' if met else 'missed'}: {findings:,} findings: slowest format {slowest} "
            f"{rendered[slowest][0] * 1000:.0f} ms (goal < 1000 ms), furthest from the reference {worst} "
            f"{rendered[worst][0] / reference:.1f}x json.dumps' {reference * 1000:.0f} ms (goal <= 10x), compare "
            f"{compare_s * 1000:.0f} ms (goal < 1000 ms), Markdown {markdown:.2f} MiB (goal < 1 MiB)")


if __name__ == "__main__":
    main()
