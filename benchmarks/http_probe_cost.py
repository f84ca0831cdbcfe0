"""What does the HTTP part of an audit cost the target? Requests and time per fact.

    .venv/bin/python benchmarks/http_probe_cost.py

Starts the tests' sample API (tests/apps/sample_api.py, GOOD configuration) on a free
loopback port, gathers every HTTP fact once with the endpoints of the tests' config,
and prints for each fact the requests it sent (counted by perfcheck's budget and,
independently, by the server) and the time it took; then the whole
`perfcheck audit --only api --only cdn --only realtime --only monitoring` wall time.
The opt-in bursts are shown separately: an ordinary audit does not send them.
"""

from __future__ import annotations

import copy
import subprocess
import sys
import time
import resource
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from http_servers import SampleApi  # noqa: E402

from perfcheck.collectors.http.collector import HttpCollector  # noqa: E402
from perfcheck.config import DEFAULTS  # noqa: E402

ENDPOINTS = [
    {"path": "/api/items", "kind": "list"},
    {"path": "/api/report"},
    {"path": "/api/items", "kind": "write", "body": {"name": "widget"}},
    {"path": "/media/stream.mp3", "kind": "media"},
]
LOAD = {"requests": 200, "rate": 50, "warmup": 10, "concurrency": 10, "max_seconds": 20}


def server_count(url: str) -> float:
    with urllib.request.urlopen(url + "metrics") as answer:
        return sum(float(line.rsplit(" ", 1)[1]) for line in answer.read().decode().splitlines()
                   if line.startswith("sample_requests_total{"))


def main() -> None:
    with SampleApi("good") as app:
        options = copy.deepcopy(DEFAULTS["http"])
        options.update(endpoints=ENDPOINTS, load=LOAD, rate_limit_burst={"requests": 200, "endpoint": ""},
                       socketio_burst={"messages": 15, "event": "message", "data": "x", "namespace": "/"})
        collector = HttpCollector(app.url, options, [])
        print(f"sample API (good) at {app.url}; budget {options['max_requests']} requests, {options['max_rate']}/s\n")
        print(f"{'fact':24} {'requests':>9} {'server saw':>11} {'ms':>9}")
        before = server_count(app.url) + 1  # this read
        started = time.perf_counter()
        collector.open()
        sent = collector.budget.sent
        print(f"{'(open: base page)':24} {sent:>9} {'':>11} {(time.perf_counter() - started) * 1000:>9.1f}")
        ordinary = 0
        for name in collector.order(set(HttpCollector.providers)):
            t0, s0, c0 = time.perf_counter(), collector.budget.sent, server_count(app.url)
            try:
                collector.fact(name)
            except Exception as exc:  # an unavailable fact still shows its cost
                print(f"   {name}: {exc}")
            seen = server_count(app.url) - c0 - 1
            n = collector.budget.sent - s0
            ordinary += n if "burst" not in name else 0
            print(f"{name:24} {n:>9} {seen:>11.0f} {(time.perf_counter() - t0) * 1000:>9.1f}")
        collector.close()
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        total = collector.budget.sent
        print(f"\nall facts: {total} requests by the budget in {time.perf_counter() - started:.2f} s "
              f"({ordinary} without the opt-in bursts); this process's peak RSS {peak_kb / 1024:.0f} MB")
        print(f"(the server's count includes the benchmark's own {len(HttpCollector.providers) * 2 + 1} reads of /metrics: "
              f"{server_count(app.url) - before:.0f} in all)")

        config = Path(__file__).with_name(".http_probe_cost.yaml")
        config.write_text("http:\n  endpoints:\n" + "".join(
            f"    - {{path: {e['path']}, kind: {e.get('kind', 'api')}{', body: {name: widget}' if 'body' in e else ''}}}\n"
            for e in ENDPOINTS) + "  load: {requests: 200, rate: 50, warmup: 10, concurrency: 10, max_seconds: 20}\n")
        try:
            for only in (["--skip", "api.latency", "--skip", "api.ttfb"], []):
                t0 = time.perf_counter()
                proc = subprocess.run([sys.executable, "-m", "perfcheck", "audit", "--url", app.url, "--config", str(config),
                                       "--only", "api", "--only", "cdn", "--only", "realtime", "--only", "monitoring",
                                       "--only", "cache.levels", "--format", "json", *only], capture_output=True, text=True)
                label = "without the latency run" if only else "with the latency run (2 GET endpoints x 210 requests)"
                print(f"perfcheck audit, HTTP checks {label}: {time.perf_counter() - t0:.2f} s wall, exit {proc.returncode}")
        finally:
            config.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
