"""How long does `perfcheck demo` take to show its report? (Goal: under 90 s on a 2-core
machine, package downloads excluded.)

    .venv/bin/python benchmarks/demo_time.py [--runs 3] [--fix | --fixed] [--embedded]

Runs the demo as a user would (a subprocess, `python -m perfcheck demo`), reads its
progress lines on stderr, and prints each step's time and the time from start to the
report on stdout, per run, with the median and worst over the runs, and a last line
`GOAL met|missed: …` for the worst run. It also checks that each run left no temporary
folder behind. `--embedded` times the demo on the `demo` extra's servers from wheels
(PERFCHECK_SERVERS=embedded), what a `pipx install 'perfcheck[demo]'` without root gets.
Not part of CI (tests/test_install.py holds the embedded demo from an installed wheel to
the same 90 s).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

STEP = re.compile(r"^demo: (?P<name>[^(]+?) \((?P<seconds>[\d.]+) s")


def one_run(fix: bool, embedded: bool = False, fixed: bool = False) -> dict[str, float]:
    tmpdir = Path(tempfile.mkdtemp(prefix="perfcheck-demo-bench-", dir="/tmp"))
    tmpdir.chmod(0o755)
    args = [sys.executable, "-m", "perfcheck", "demo"] + (["--fix"] if fix else []) + (["--fixed"] if fixed else [])
    started = time.monotonic()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TMPDIR": str(tmpdir),
                                 **({"PERFCHECK_SERVERS": "embedded"} if embedded else {})})
    first_report: dict[str, float] = {}

    def read_stdout() -> None:
        for line in proc.stdout:
            if "report" not in first_report and "perfcheck" in line and "/100" in line:
                first_report["report"] = time.monotonic() - started
            if "before → after" in line:
                first_report["comparison"] = time.monotonic() - started

    reader = threading.Thread(target=read_stdout)
    reader.start()
    figures: dict[str, float] = {}
    for line in proc.stderr:
        match = STEP.match(line)
        if match:
            name = match["name"].strip()
            if name.startswith("stopped and removed"):
                name = "in all, as the demo counts it"
            figures[name] = figures.get(name, 0.0) + float(match["seconds"])
    proc.wait()
    reader.join()
    figures["total"] = time.monotonic() - started
    figures.update({f"time to {k}": v for k, v in first_report.items()})
    leftovers = list(tmpdir.iterdir())
    tmpdir.rmdir() if not leftovers else None
    if proc.returncode != 0:
        raise SystemExit(f"the demo exited with {proc.returncode}")
    if leftovers:
        raise SystemExit(f"the demo left {leftovers} behind")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--fix", action="store_true", help="time `perfcheck demo --fix`")
    parser.add_argument("--fixed", action="store_true", help="time `perfcheck demo --fixed` (the healthy form)")
    parser.add_argument("--embedded", action="store_true",
                        help="on the demo extra's servers from wheels, not the system's")
    args = parser.parse_args()
    if args.fix and args.fixed:
        parser.error("--fix and --fixed are two different demos: time one at a time")
    if args.fix and args.embedded:
        parser.error("--fix needs HypoPG, which the embedded PostgreSQL lacks")
    servers = "the wheels' servers" if args.embedded else "the system's servers"
    print(f"perfcheck demo{' --fix' if args.fix else ''}{' --fixed' if args.fixed else ''} on {servers}: {args.runs} run(s) on {os.cpu_count()} cores")
    runs = []
    for i in range(args.runs):
        figures = one_run(args.fix, args.embedded, args.fixed)
        runs.append(figures)
        print(f"run {i + 1}: " + ", ".join(f"{k} {v:.1f} s" for k, v in figures.items()))
    keys = list(runs[0])
    print("\nmedian / worst over the runs" + (" (with --fix, steps that run twice are summed):" if args.fix else ":"))
    for key in keys:
        values = [r[key] for r in runs if key in r]
        print(f"  {key:<32} {statistics.median(values):6.1f} s  {max(values):6.1f} s")
    worst = max(r.get("time to report", r["total"]) for r in runs)
    print(f"\nGOAL {'met' if worst < 90 else 'missed'}: the report within 90 s of the command "
          f"(worst {worst:.1f} s over {len(runs)} run(s), {servers}, install excluded)")


if __name__ == "__main__":
    main()
