"""Does a re-run of an unchanged system stay green against its baseline? (Goal: zero
regressions with the default tolerances, while tight tolerances show the noise is real.)

    .venv/bin/python benchmarks/baseline_noise.py [--runs 4]

Starts the demo's stack (PostgreSQL, Redis, the music API, seeded), then drives the same
bounded workload and audits it `--runs` times. Every later audit is compared with the
first, as `perfcheck audit --baseline` would: once with the defaults in perfcheck.yaml's
`baseline:` section, once with tight tolerances (no score slack, a 2 % / 0.5 ms latency
band), and prints the regressions each finds and how far the latency percentiles moved.
Everything it starts is stopped at the end. Not part of CI.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from perfcheck.demo import run as demo
from perfcheck.gate.baseline import Tolerances, compare, percentiles
from perfcheck.demo.sandbox import RedisServer, postgres_bindir

TIGHT = Tolerances(score_drop=0, check_score_drop=0, latency_relative=0.02, latency_ms=0.5, error_is_regression=True)


def latency_moves(old, new) -> list[tuple[float, float]]:
    """(ms, relative) change of every percentile measured in both runs."""
    before = {(c.id, e, n): v for c in old.checks for e, n, v in percentiles(c.metrics)}
    return [(v - before[(c.id, e, n)], (v - before[(c.id, e, n)]) / before[(c.id, e, n)])
            for c in new.checks for e, n, v in percentiles(c.metrics) if before.get((c.id, e, n))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=4, help="audits of the unchanged system (default 4)")
    args = parser.parse_args()

    folder = demo.app_dir()
    demo.check_app_modules()
    steps = demo.Steps(sys.stderr)
    stack = demo.Stack(Path(tempfile.mkdtemp(prefix="perfcheck-noise-")))
    try:
        demo.start_postgres(stack, postgres_bindir())
        stack.redis = RedisServer()
        stack.redis.start()
        demo.seed(stack, folder)
        demo.start_api(stack, folder)
        workload = demo.load_workload(folder)
        config_path = demo.write_config(stack, workload.session_code(4242))  # as `perfcheck demo` writes it
        reports = [demo.measure(stack, workload, config_path, steps, demo.DemoOptions(), seed=1).report
                   for _ in range(args.runs)]
    finally:
        stack.stop()

    base = reports[0]
    judged = sum(1 for c in base.checks if c.status.judged)
    print(f"baseline: score {base.score}, {judged} checks judged, "
          f"{sum(1 for _ in (p for c in base.checks for p in percentiles(c.metrics)))} latency percentiles")
    print(f"{'run':>3} {'score':>5} {'regressions (defaults)':>23} {'regressions (tight)':>20} {'largest percentile rise':>30}")
    flagged = []
    for i, report in enumerate(reports[1:], start=2):
        default, tight = compare(base, report), compare(base, report, TIGHT)
        flagged.append((len(default.regressions), len(tight.regressions)))
        moves = latency_moves(base, report)
        ms, rel = max(moves) if moves else (0.0, 0.0)
        print(f"{i:>3} {report.score!s:>5} {len(default.regressions):>23} {len(tight.regressions):>20} "
              f"{f'{ms:+.1f} ms ({rel:+.0%})':>30}")
        for change in default.regressions:
            print(f"      default: {change.message}")
        for change in default.notes:  # what the defaults weighed and let pass, so a reader can judge them
            if change.kind in ("finding", "severity"):
                print(f"      noted:   {change.message}")
        for change in tight.regressions[:5]:
            print(f"      tight:   {change.short}")

    total, tight_total = sum(d for d, _ in flagged), sum(t for _, t in flagged)
    print(f"GOAL {'met' if total == 0 else 'missed'}: {total} regression(s) with the default tolerances over "
          f"{len(flagged)} re-run(s) of an unchanged system (goal 0); the reference, tight tolerances, flags "
          f"{tight_total} (the noise is real)")


if __name__ == "__main__":
    main()
