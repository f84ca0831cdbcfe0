"""Does `--runs N` (the median of N synthetic runs) make P95 steadier from audit to audit?

Starts tests/apps/delay_server.py (an endpoint that answers after 5 ms) and audits it
`--audits` times with one run each, then `--audits` times with `--runs 3`, each run 100
requests at 50/s; prints, for both, P95 across the audits (min, median, max, and the
spread max/min) and the wall time of one audit.

GOAL: the spread with --runs 3 below the spread of single runs.

Run: .venv/bin/python benchmarks/latency_runs.py [--audits 6]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "tests" / "apps" / "delay_server.py"
CONFIG = ("http:\n  health_path: ''\n  metrics_path: ''\n  socketio_path: ''\n  discover_assets: false\n"
          "  endpoints: [{name: five, path: /delay/5, kind: api}]\n"
          "  load: {requests: 100, rate: 50, warmup: 5, concurrency: 4}\n")


def audit(url: str, config: Path, runs: int) -> tuple[float, float]:
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "perfcheck", "audit", "--url", url, "-c", str(config),
                           "--only", "api.latency", "--runs", str(runs), "-f", "json"], capture_output=True, text=True)
    took = time.monotonic() - started
    report = json.loads(proc.stdout)
    latency = next(c for c in report["checks"] if c["id"] == "api.latency")
    return latency["metrics"]["endpoints"]["five"]["p95_ms"], took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audits", type=int, default=6)
    args = parser.parse_args()
    server = subprocess.Popen([sys.executable, str(APP)], stdout=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{int(server.stdout.readline())}"
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "perfcheck.yaml"
            config.write_text(CONFIG)
            spreads = {}
            for runs in (1, 3):
                results = [audit(url, config, runs) for _ in range(args.audits)]
                p95 = [r[0] for r in results]
                spreads[runs] = max(p95) / min(p95)
                print(f"--runs {runs}: P95 min {min(p95):.2f} ms, median {statistics.median(p95):.2f} ms, "
                      f"max {max(p95):.2f} ms, spread {spreads[runs]:.2f}x; "
                      f"one audit {statistics.median(r[1] for r in results):.1f} s")
        print(f"GOAL spread with --runs 3 below single runs: {'met' if spreads[3] < spreads[1] else 'NOT met'}")
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
