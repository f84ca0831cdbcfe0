"""Shared by the benchmarks: a child's wall time and its own peak RSS.

Peak RSS comes from GNU time (`/usr/bin/time -v`, apt-get install -y time), which reports
the child alone: os.wait4's ru_maxrss of a child forked from a big parent inherits the
parent's high-water mark (a child running `true` once showed 313 MB after the parent had
allocated 300 MB). Without GNU time the figure is left out, never guessed."""

from __future__ import annotations

import compileall
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time

GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else shutil.which("gtime")


def run_measured(args: list[str], env: dict[str, str] | None = None, check: bool = True) -> tuple[float, float | None, str]:
    """Wall seconds, peak RSS in MB of the child alone (None without GNU time), stdout."""
    with tempfile.TemporaryFile() as out, tempfile.NamedTemporaryFile("r") as stats:
        command = [GNU_TIME, "-v", "-o", stats.name, *args] if GNU_TIME else args
        started = time.perf_counter()
        done = subprocess.run(command, stdout=out, stderr=subprocess.PIPE, env=env)
        wall = time.perf_counter() - started
        out.seek(0)
        text = out.read().decode()
        rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stats.read()) if GNU_TIME else None
    if check and done.returncode not in (0, 1):
        raise RuntimeError(f"{args[0]} exited {done.returncode}: {done.stderr.decode()[-400:]}")
    return wall, int(rss.group(1)) / 1024 if rss else None, text


def installed_env() -> dict[str, str]:
    """The environment of perfcheck as installed: a wheel carries compiled bytecode, while
    an editable install under PYTHONDONTWRITEBYTECODE=1 (as on this machine) compiles every
    module on each start (~0.06 s of an audit). Compiles the sources (into __pycache__,
    ignored by git) and lets Python read them; startup.py measures both ways."""
    import perfcheck

    compileall.compile_dir(os.path.dirname(perfcheck.__file__), quiet=1)
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def median(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float], unit: str = "", digits: int = 2) -> str:
    """"median [min-max]" of a figure measured several times."""
    return f"{median(values):.{digits}f}{unit} [{min(values):.{digits}f}-{max(values):.{digits}f}]"
