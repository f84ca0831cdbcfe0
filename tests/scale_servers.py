"""Real servers for the scale tests, on free loopback ports: a small API that records its
own request durations in a Prometheus histogram (prom-client style, in milliseconds, or in
seconds), steady traffic to it, and a Prometheus server (Debian's `prometheus`) scraping it."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from helpers import unavailable
from perfcheck.demo.sandbox import free_port, wait_for_port

MS_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000)  # prom-client's http_request_duration_ms style
S_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class HistogramApi:
    """Routes that answer after a fixed delay (seconds), and /metrics with their histogram."""

    def __init__(self, delays: dict[str, float], unit: str = "ms", buckets: tuple[float, ...] | None = None):
        self.delays, self.unit = delays, unit
        self.flaky = {path for path in delays if "flaky" in path}  # these answer 500 to every other request
        self.served: dict[str, int] = {}
        self.registry = CollectorRegistry()
        name = "http_request_duration_ms" if unit == "ms" else "http_request_duration_seconds"
        self.histogram = Histogram(name, "Request duration", ["method", "route", "status_code"],
                                   buckets=buckets or (MS_BUCKETS if unit == "ms" else S_BUCKETS), registry=self.registry)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.server: ThreadingHTTPServer | None = None

    def _handler(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                path = self.path.split("?")[0]
                if path == "/metrics":
                    return self._send(200, generate_latest(api.registry), "text/plain; version=0.0.4")
                started = time.perf_counter()
                delay = api.delays.get(path)
                if delay is None:
                    return self._send(404 if path != "/" else 200, b'{"ok": true}', "application/json")
                time.sleep(delay)
                api.served[path] = api.served.get(path, 0) + 1
                status = 500 if path in api.flaky and api.served[path] % 2 else 200  # every other one fails
                self._send(status, b'{"items": []}', "application/json")
                took = time.perf_counter() - started
                api.histogram.labels("GET", path, str(status)).observe(took * 1000 if api.unit == "ms" else took)

            def _send(self, status, body, ctype):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def __enter__(self) -> HistogramApi:
        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # the default 5 drops SYNs when many users connect at once: 1 s retransmits

        self.server = Server(("127.0.0.1", self.port), self._handler())
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        wait_for_port(self.port)
        return self

    def __exit__(self, *exc) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()


class Traffic:
    """Steady GETs to the API's routes (a few per second each), as real users would send."""

    def __init__(self, api: HistogramApi, per_second: float = 20.0):
        self.api, self.interval = api, 1.0 / per_second
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        routes = list(self.api.delays)
        i = 0
        while not self.stopped.is_set():
            try:
                urllib.request.urlopen(self.api.url.rstrip("/") + routes[i % len(routes)], timeout=5).read()
            except OSError:
                pass
            i += 1
            self.stopped.wait(self.interval)

    def __enter__(self) -> Traffic:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.thread.join(10)


def prometheus_binary() -> str:
    found = shutil.which("prometheus") or ("/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None)
    if not found:
        unavailable("the prometheus server is not installed: apt-get install -y prometheus")
    return found


class PrometheusServer:
    """`prometheus` scraping `target` (host:port) every second, its data in `root`."""

    def __init__(self, root: Path, target: str):
        self.root, self.target = root, target
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> PrometheusServer:
        config = self.root / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                          "scrape_configs:\n  - job_name: api\n    static_configs:\n"
                          f"      - targets: ['{self.target}']\n")
        self.proc = subprocess.Popen(
            [prometheus_binary(), f"--config.file={config}", f"--web.listen-address=127.0.0.1:{self.port}",
             f"--storage.tsdb.path={self.root / 'data'}", "--storage.tsdb.retention.time=1h"],
            stdout=subprocess.DEVNULL, stderr=(self.root / "prometheus.log").open("wb"))
        wait_for_port(self.port, self.proc, seconds=60)
        return self

    def __exit__(self, *exc) -> None:
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def samples(self, query: str) -> int:
        """How many series `query` returns now (to wait until enough scrapes are in)."""
        import json

        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/query?query={urllib.request.quote(query)}", timeout=5) as r:
                return len(json.load(r)["data"]["result"])
        except urllib.error.HTTPError as exc:
            if exc.code == 503:  # still starting (its storage not ready yet): no samples so far
                return 0
            raise
