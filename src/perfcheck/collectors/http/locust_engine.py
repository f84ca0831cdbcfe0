"""The latency run on Locust, for load beyond what one machine's bounded probe sends:
perfcheck writes a locustfile from `http.endpoints`, starts a headless master (with local
workers, or waiting for remote ones to connect), bounds users, spawn rate and run time, and
reads Locust's per-endpoint statistics (its CSV) into the synthetic run's shape, so that
`api.latency` judges them with the same thresholds, baselines and gates.

Each simulated user requests every endpoint once a second (`constant_throughput(1)`), so the
load is at most `users` requests per second per endpoint, whatever the number of workers.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from perfcheck.collectors import FactUnavailable
from perfcheck.model import Status

STARTUP_S = 20.0  # the master and its workers start, and the workers connect, within this
STOP_GRACE_S = 10.0  # after the run time: the users stop, the CSV is written

LOCUSTFILE = '''"""Written by perfcheck for one latency run; deleted after it."""
import json

from locust import FastHttpUser, constant_throughput, task

ENDPOINTS = json.loads({endpoints!r})


class PerfcheckUser(FastHttpUser):
    wait_time = constant_throughput(1)

    @task
    def every_endpoint(self):
        for endpoint in ENDPOINTS:
            self.client.get(endpoint["path"], name=endpoint["name"], headers=endpoint["headers"])
'''


def available() -> bool:
    return importlib.util.find_spec("locust") is not None


def locustfile(endpoints: list[dict[str, Any]]) -> str:
    """The locustfile; the endpoints go in as one JSON string literal (nothing of them is code)."""
    data = [{"name": ep["name"], "path": ep["path"], "headers": dict(ep.get("headers") or {})} for ep in endpoints]
    return LOCUSTFILE.format(endpoints=json.dumps(data))


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _settings(options: dict[str, Any], remaining: float | None) -> dict[str, Any]:
    loc = (options.get("load") or {}).get("locust") or {}
    run_time = float(loc.get("run_time_s", 15))
    if remaining is not None:
        room = remaining - STARTUP_S - STOP_GRACE_S
        if room < 2:
            raise FactUnavailable("not run: too little of the time budget (max_seconds) was left for the Locust run",
                                  Status.ERROR)
        run_time = min(run_time, room)
    workers = int(loc.get("workers", 2))
    expect = bool(loc.get("expect_workers", False))
    host = str(loc.get("master_host") or "127.0.0.1")
    return {"users": int(loc.get("users", 20)), "spawn_rate": float(loc.get("spawn_rate", 10)),
            "run_time_s": max(1, int(run_time)), "workers": workers, "expect_workers": expect, "master_host": host,
            "master_port": int(loc.get("master_port", 5557)) if expect else _free_port(host)}


def _commands(file: Path, prefix: Path, base_url: str, s: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    locust = [sys.executable, "-m", "locust", "-f", str(file), "--loglevel", "WARNING"]
    master = [*locust, "--headless", "--only-summary", "-u", str(s["users"]), "-r", f"{s['spawn_rate']:g}",
              "-t", f"{s['run_time_s']}s", "--stop-timeout", "2", "--csv", str(prefix), "--host", base_url,
              "--exit-code-on-error", "0"]
    if s["workers"]:
        master += ["--master", "--master-bind-host", s["master_host"], "--master-bind-port", str(s["master_port"]),
                   "--expect-workers", str(s["workers"]), "--expect-workers-max-wait", str(int(STARTUP_S))]
    local = 0 if s["expect_workers"] else s["workers"]
    workers = [[*locust, "--worker", "--master-host", s["master_host"], "--master-port", str(s["master_port"])]
               for _ in range(local)]
    return master, workers


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run(base_url: str, endpoints: list[dict[str, Any]], options: dict[str, Any], remaining: float | None) -> dict[str, Any]:
    if not available():
        raise FactUnavailable("http.load.engine is locust but Locust is not installed (pip install 'perfcheck[load]')",
                              Status.ERROR)
    if not endpoints:
        endpoints = [{"name": "GET /", "path": "/", "headers": {}}]
    s = _settings(options, remaining)
    with tempfile.TemporaryDirectory(prefix="perfcheck-locust-") as tmp:
        file, prefix = Path(tmp) / "locustfile.py", Path(tmp) / "run"
        file.write_text(locustfile(endpoints))
        master_cmd, worker_cmds = _commands(file, prefix, base_url.rstrip("/"), s)
        log = (Path(tmp) / "master.log").open("wb")
        started = time.monotonic()
        master = subprocess.Popen(master_cmd, stdout=subprocess.DEVNULL, stderr=log, cwd=tmp)
        workers = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp)
                   for cmd in worker_cmds]
        try:
            master.wait(s["run_time_s"] + STARTUP_S + STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            raise FactUnavailable(f"the Locust run did not end within {s['run_time_s'] + STARTUP_S + STOP_GRACE_S:g} s",
                                  Status.ERROR) from None
        finally:
            for proc in [master, *workers]:
                _stop(proc)
            log.close()
        took = time.monotonic() - started
        stats = prefix.with_name(prefix.name + "_stats.csv")
        if not stats.exists():
            tail = (Path(tmp) / "master.log").read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise FactUnavailable(f"Locust wrote no statistics (exit {master.returncode}): {tail[0][:200]}", Status.ERROR)
        results = read_stats(stats, prefix.with_name(prefix.name + "_failures.csv"))
    if not any(r["count"] or r["errors"] for r in results.values()):
        wait = f"; did the {s['workers']} worker(s) connect to {s['master_host']}:{s['master_port']}?" if s["workers"] else ""
        raise FactUnavailable(f"the Locust run sent no request{wait}", Status.ERROR)
    source = {"kind": "locust", **{k: s[k] for k in ("users", "spawn_rate", "run_time_s", "workers", "expect_workers")},
              "wall_s": round(took, 1)}
    return {"endpoints": results, "source": source}


def _number(value: str) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def read_stats(stats: Path, failures: Path) -> dict[str, dict[str, Any]]:
    """Locust's per-endpoint CSV into api.latency's shape (ms; failures counted as errors)."""
    samples: dict[str, list[str]] = {}
    if failures.exists():
        with open(failures, newline="") as stream:
            for row in csv.DictReader(stream):
                samples.setdefault(row.get("Name", ""), []).append(f"{row.get('Error', '')[:160]} × {row.get('Occurrences')}")
    out: dict[str, dict[str, Any]] = {}
    with open(stats, newline="") as stream:
        for row in csv.DictReader(stream):
            name = row.get("Name", "")
            if name == "Aggregated" or not name:
                continue
            total = int(_number(row.get("Request Count")) or 0)
            failed = int(_number(row.get("Failure Count")) or 0)
            out[name] = {
                "count": total - failed, "errors": failed, "source": "locust",
                "p50_ms": _number(row.get("50%")), "p95_ms": _number(row.get("95%")), "p99_ms": _number(row.get("99%")),
                "max_ms": _number(row.get("Max Response Time")), "mean_ms": _number(row.get("Average Response Time")),
                "achieved_rate": _number(row.get("Requests/s")), "error_samples": samples.get(name, [])[:3],
            }
    return out
