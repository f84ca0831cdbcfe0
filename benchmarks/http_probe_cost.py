"""What does the HTTP part of an audit cost the target? Requests and time per fact.

    .venv/bin/python benchmarks/http_probe_cost.py

Starts the tests' sample API (tests/apps/sample_api.py, GOOD configuration) on a free
loopback port, gathers every HTTP fact once with the endpoints of the tests' config,
and prints for each fact the requests it sent (counted by perfcheck's budget and,
independently, by the server) and the time it took; then the whole
`perfcheck audit --only api --only cdn --only realtime --only monitoring` wall time.
The opt-in bursts are shown separately: an ordinary audit does not send them.

References measured in the same run: the server's own request count (every request
perfcheck sends must be one its budget counted), and `hey` sending as many requests as
the ordinary probes (every fact but the latency run and the opt-in bursts) at perfcheck's
rate cap (http.max_rate) from one worker: the time a plain client needs for that many
requests at that rate. The last line is the GOAL verdict: budget and server counts equal
for every fact, and the ordinary probes within 2x of hey's time.
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
        ordinary, ordinary_s, mismatched = sent, time.perf_counter() - started, []
        for name in collector.order(set(HttpCollector.providers)):
            c0 = server_count(app.url)  # read before the clock starts: the fact's time is its own
            t0, s0 = time.perf_counter(), collector.budget.sent
            try:
                collector.fact(name)
            except Exception as exc:  # an unavailable fact still shows its cost
                print(f"   {name}: {exc}")
            took = time.perf_counter() - t0
            seen = server_count(app.url) - c0 - 1
            n = collector.budget.sent - s0
            if seen != n:
                mismatched.append(name)
            if "burst" not in name and name != "http.latency":
                ordinary, ordinary_s = ordinary + n, ordinary_s + took
            print(f"{name:24} {n:>9} {seen:>11.0f} {took * 1000:>9.1f}")
        collector.close()
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        total = collector.budget.sent
        print(f"\nall facts: {total} requests by the budget in {time.perf_counter() - started:.2f} s; "
              f"this process's peak RSS {peak_kb / 1024:.0f} MB")
        print(f"(the server's count includes the benchmark's own {len(HttpCollector.providers) * 2 + 1} reads of /metrics: "
              f"{server_count(app.url) - before:.0f} in all)")
        reference = hey_seconds(app.url, ordinary, options["max_rate"])
        print(f"ordinary probes (no latency run, no burst): {ordinary} requests in {ordinary_s * 1000:.0f} ms; "
              f"hey, {ordinary} requests at {options['max_rate']}/s from one worker: {reference * 1000:.0f} ms "
              f"(reference); ratio {ordinary_s / reference:.2f}x")

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
        met = not mismatched and ordinary_s <= 2 * reference
        print(f"GOAL {'met' if met else 'missed'}: every request counted by perfcheck's budget "
              f"({'yes' if not mismatched else 'no: ' + ', '.join(mismatched)}; goal: budget = server's count for "
              f"every fact), ordinary probes {ordinary} requests in {ordinary_s * 1000:.0f} ms = "
              f"{ordinary_s / reference:.2f}x hey's {reference * 1000:.0f} ms at the same count and rate (goal <= 2x)")


def hey_seconds(url: str, requests: int, rate: float) -> float:
    """Wall time of `hey` sending `requests` GETs of the base page at `rate`/s from one worker."""
    started = time.perf_counter()
    subprocess.run(["hey", "-n", str(requests), "-c", "1", "-q", f"{rate:g}", url], check=True, capture_output=True)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
