"""How long `perfcheck --help` and `perfcheck --version` take to answer, against a bare
`python -c pass` measured in the same run (median of 10 each, interleaved so that a burst
of load on the machine hits every command alike).

    .venv/bin/python benchmarks/startup.py [--runs 10]

perfcheck is run through its installed entry point (the `perfcheck` script next to this
Python). An installed wheel carries compiled bytecode; an editable install under
PYTHONDONTWRITEBYTECODE=1 compiles perfcheck's modules on every start. Both are measured:
"cached" first compiles the sources (compileall, into __pycache__, ignored by git) and
lets Python read them; "uncached" runs with PYTHONDONTWRITEBYTECODE=1 and no __pycache__
of perfcheck's own. Goal (issue 13): --help < 150 ms and --version < 100 ms, cached.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import perfcheck

GOALS_MS = {"--help": 150, "--version": 100}


def timed(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = (time.perf_counter() - started) * 1000
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} exited {done.returncode}: {done.stderr.decode()[-300:]}")
    return elapsed


def measure(runs: int, env: dict[str, str]) -> dict[str, float]:
    script = str(Path(sys.executable).with_name("perfcheck"))
    commands = {"python -c pass": [sys.executable, "-c", "pass"],
                "--help": [script, "--help"], "--version": [script, "--version"]}
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, args in commands.items():
            times[name].append(timed(args, env))
    return {name: statistics.median(values) for name, values in times.items()}


def caches(package: Path) -> list[Path]:
    return [p for p in package.rglob("__pycache__") if p.is_dir()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    package = Path(perfcheck.__file__).parent
    print(f"perfcheck start-up, median of {args.runs}; {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    verdicts = []
    for label in ("uncached", "cached"):
        env = dict(os.environ)
        if label == "cached":
            compileall.compile_dir(str(package), quiet=1)
            env.pop("PYTHONDONTWRITEBYTECODE", None)
        else:
            for cache in caches(package):
                shutil.rmtree(cache)
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        result = measure(args.runs, env)
        base = result["python -c pass"]
        print(f"{label:>9}: python -c pass {base:6.1f} ms | " + " | ".join(
            f"perfcheck {name} {result[name]:6.1f} ms ({result[name] / base:.1f}x python)" for name in GOALS_MS))
        if label == "cached":
            verdicts = [(name, result[name], goal) for name, goal in GOALS_MS.items()]
    print(f"  (load average now {os.getloadavg()[0]:.1f})")
    met = all(value < goal for _, value, goal in verdicts)
    print(f"GOAL {'met' if met else 'missed'}: " + ", ".join(
        f"{name} {value:.0f} ms (goal < {goal} ms)" for name, value, goal in verdicts) + ", installed (bytecode cached)")


if __name__ == "__main__":
    main()
