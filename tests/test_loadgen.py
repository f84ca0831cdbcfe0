"""The latency engine against real local servers: a delay server with known timings
(tests/apps/delay_server.py), a port that refuses, a port that speaks no HTTP, and nginx
with TLS and HTTP/2. Every run is a few seconds at most."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from perfcheck.collectors.http.load import LoadEndpoint, run_load
from perfcheck.demo.sandbox import free_port, wait_for_port

APP = Path(__file__).parent / "apps" / "delay_server.py"


@pytest.fixture(scope="module")
def delay_server():
    proc = subprocess.Popen([sys.executable, str(APP)], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait()


def served(base: str, path: str) -> int:
    """How many requests the server itself received for `path`."""
    with urllib.request.urlopen(f"{base}/count?path={urllib.request.quote(path, safe='')}") as answer:
        return json.load(answer)["count"]


def load(base: str, *paths: str, **kw):
    options = {"requests": 20, "rate": 50, "warmup": 0, "concurrency": 10, "max_seconds": 10, "timeout_s": 5}
    options.update(kw)
    results = run_load(base, [LoadEndpoint(path, path) for path in paths], **options)
    return [results[path] for path in paths]


def test_a_known_delay_is_measured_within_a_few_percent(delay_server):
    (result,) = load(delay_server, "/delay/100?t=accuracy", requests=40, rate=20, warmup=4)
    assert result["count"] == 40 and result["errors"] == 0 and result["status_counts"] == {"200": 40}
    assert 100 <= result["p50_ms"] <= 104, result
    assert result["ttfb_p50_ms"] <= result["p50_ms"]
    assert result["protocol"] == "HTTP/1.1"
    assert result["late_sends"]["p50_ms"] < 1  # 20/s on 10 connections: sends leave on time
    assert set(result["own_ms"]) == {"p50_ms", "p95_ms", "p99_ms"} and result["own_ms"]["p50_ms"] < 1
    assert 18 <= result["achieved_rate"] <= 22
    buckets = result["histogram"]
    assert sum(b["count"] for b in buckets) == 40 and len(buckets) <= 12
    assert max(buckets, key=lambda b: b["count"])["le_ms"] in (200, 100)  # the bucket that holds 100 ms


def closed_loop_p99(base: str, path: str, requests: int, pause_s: float) -> tuple[float, float]:
    """What a naive tool sees: one connection, time from the actual send, wait for each answer."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port))
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        conn.request("GET", path)
        conn.getresponse().read()
        times.append((time.perf_counter() - started) * 1000)
        time.sleep(pause_s)
    conn.close()
    times.sort()
    return times[int(len(times) * 0.99) - 1], times[-1]


def test_a_stall_shows_in_the_tail_where_a_closed_loop_hides_it(delay_server):
    # 150 requests at 100/s; the 50th request freezes the server for 0.5 s.
    naive_p99, naive_max = closed_loop_p99(delay_server, "/stall?at=50&s=0.5&t=closed", 150, 0.01)
    (result,) = load(delay_server, "/stall?at=50&s=0.5&t=open", requests=150, rate=100, concurrency=4)
    assert naive_max >= 500 and result["max_ms"] >= 500  # both see the one frozen request...
    assert naive_p99 < 100  # ...but the closed loop stops sending while it waits, so its P99 looks fine
    # The open model kept sending on schedule: ~50 requests fell due during the stall.
    assert result["p99_ms"] >= 400 and result["p95_ms"] >= 200, result
    assert result["p50_ms"] < 50  # the stall is a third of the run, not half
    assert result["late_sends"]["max_ms"] >= 300  # the 4 connections were stuck: sends waited
    assert result["count"] == 150 and result["errors"] == 0


def test_perfcheck_s_own_lateness_is_told_apart_from_waiting_for_a_connection(delay_server):
    # perfcheck blocks its own event loop (a progress callback that takes 30 ms, every 0.1 s):
    # sends go out late through no fault of the server, and own_ms says how much of the tail
    # that was.
    (blocked,) = load(delay_server, "/delay/1?t=own-blocked", requests=60, rate=100, concurrency=4,
                      progress=lambda done, planned: time.sleep(0.03))
    assert blocked["count"] == 60 and blocked["sender_lag_ms"]["max_ms"] >= 15, blocked
    assert blocked["own_ms"]["p99_ms"] >= 10 and blocked["own_ms"]["p99_ms"] <= blocked["p99_ms"], blocked
    # A stalled server: the sends wait for a free connection, which is the server's doing.
    (stalled,) = load(delay_server, "/stall?at=20&s=0.3&t=own-stall", requests=60, rate=100, concurrency=2)
    assert stalled["late_sends"]["max_ms"] >= 200 and stalled["p99_ms"] >= 200, stalled
    assert stalled["own_ms"]["p99_ms"] < 5 and stalled["sender_lag_ms"]["p99_ms"] < 5, stalled


def test_warmup_requests_are_sent_but_not_measured(delay_server):
    path = "/slowfirst?n=8&ms=250&t=warm"
    (result,) = load(delay_server, path, requests=20, rate=25, warmup=8)
    assert served(delay_server, path) == 28
    assert result["count"] == 20 and result["max_ms"] < 200, result  # none of the 250 ms ones
    (cold,) = load(delay_server, "/slowfirst?n=8&ms=250&t=cold", requests=20, rate=25, warmup=0)
    assert cold["max_ms"] >= 250  # the same server without a warm-up: the slow start is measured


def test_the_request_budget_is_exact_and_endpoints_interleave(delay_server):
    a, b = "/delay/1?t=budget-a", "/delay/1?t=budget-b"
    seen = []
    ra, rb = load(delay_server, a, b, requests=30, rate=200, warmup=5, progress=lambda done, planned: seen.append((done, planned)))
    assert (served(delay_server, a), served(delay_server, b)) == (35, 35)
    assert ra["count"] == rb["count"] == 30 and ra["stopped_by"] == "budget"
    assert seen[-1] == (70, 70) and all(x[0] <= y[0] for x, y in zip(seen, seen[1:]))
    assert 80 <= ra["achieved_rate"] <= 120  # 200/s shared by two endpoints


def test_the_duration_cap_stops_sending(delay_server):
    path = "/delay/1?t=cap"
    started = time.monotonic()
    (result,) = load(delay_server, path, requests=10_000, rate=50, max_seconds=1.0)
    elapsed = time.monotonic() - started
    assert elapsed < 2.0
    assert result["stopped_by"] == "max_seconds"
    assert 45 <= result["sent"] <= 51 and served(delay_server, path) == result["sent"]
    assert result["count"] == result["sent"]


def test_requests_in_flight_at_the_cap_are_counted_unfinished(delay_server):
    started = time.monotonic()
    (result,) = load(delay_server, "/hang?t=unfinished", requests=100, rate=20, max_seconds=0.5, timeout_s=30)
    elapsed = time.monotonic() - started
    assert elapsed < 0.5 + 1.0 + 0.5  # the cap plus at most a one-second grace
    assert result["count"] == 0 and result["unfinished"] == 10 and result["timeouts"] == 0
    assert result["max_ms"] >= 1000  # their latency is at least as long as they were left waiting


def test_timeouts_are_counted_and_keep_the_stall_visible(delay_server):
    (result,) = load(delay_server, "/hang?t=timeout", requests=4, rate=20, timeout_s=0.3)
    assert result["timeouts"] == 4 and result["count"] == 0 and result["errors"] == 0
    assert result["p50_ms"] >= 300
    assert result["ttfb_p50_ms"] is None


def test_statuses_and_server_closed_connections(delay_server):
    errors, closing = load(delay_server, "/status/503?t=s", "/close?t=c", requests=10, rate=100)
    assert errors["status_counts"] == {"503": 10} and errors["errors"] == 0
    assert closing["status_counts"] == {"200": 10} and closing["errors"] == 0


def test_a_refused_connection_is_counted_not_fatal():
    (result,) = load(f"http://127.0.0.1:{free_port()}", "/", requests=5, rate=100)
    assert result["errors"] == 5 and result["count"] == 0
    assert result["error_samples"] == ["connection refused"]
    assert result["p50_ms"] is None and result["histogram"] == []


@pytest.fixture
def not_http():
    """A TCP server that answers with something other than HTTP."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(4096)
                conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    listener.close()


def test_a_port_that_speaks_no_http_is_an_error(not_http):
    (result,) = load(not_http, "/", requests=3, rate=100, timeout_s=2)
    assert result["errors"] == 3 and result["timeouts"] == 0
    assert "not a valid HTTP/1.1 response" in result["error_samples"][0]


@pytest.mark.parametrize("kw, message", [
    ({"requests": 0}, "requests"),
    ({"rate": 0}, "rate"),
    ({"concurrency": 10_000}, "concurrency"),
    ({"max_seconds": -1}, "max_seconds"),
])
def test_bad_arguments_are_value_errors(kw, message):
    with pytest.raises(ValueError, match=message):
        load("http://127.0.0.1:1", "/", **kw)


def test_bad_endpoints_are_value_errors():
    options = dict(requests=1, rate=1, warmup=0, concurrency=1, max_seconds=1, timeout_s=1)
    with pytest.raises(ValueError, match="unique"):
        run_load("http://127.0.0.1:1", [LoadEndpoint("a", "/"), LoadEndpoint("a", "/x")], **options)
    with pytest.raises(ValueError, match="host"):
        run_load("http://127.0.0.1:1", [LoadEndpoint("a", "http://elsewhere.example/")], **options)
    with pytest.raises(ValueError, match="base URL"):
        run_load("ftp://127.0.0.1/", [LoadEndpoint("a", "/")], **options)


@pytest.fixture(scope="module")
def nginx_tls(tmp_path_factory):
    """nginx serving a static file over TLS with HTTP/2, with a self-signed certificate."""
    nginx, openssl = shutil.which("nginx") or "/usr/sbin/nginx", shutil.which("openssl")
    if not Path(nginx).exists() or not openssl:
        pytest.skip("nginx and openssl are needed for the HTTP/2 test")
    root = tmp_path_factory.mktemp("nginx")
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(root / "key.pem"), "-out", str(root / "cert.pem")], check=True, capture_output=True)
    (root / "www").mkdir()
    (root / "www" / "hello.txt").write_text("hello\n")
    with open(root / "www" / "big.bin", "wb") as big:
        big.truncate(64 * 2 ** 20)  # sparse: 64 MB served, nothing written
    port = free_port()
    user = "user root;" if os.geteuid() == 0 else ""  # workers must read the test's private tmp dir
    (root / "nginx.conf").write_text(f"""
{user}
daemon off; worker_processes 1; pid {root}/nginx.pid; error_log {root}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {root}/tmp; proxy_temp_path {root}/tmp; fastcgi_temp_path {root}/tmp;
  uwsgi_temp_path {root}/tmp; scgi_temp_path {root}/tmp;
  server {{
    listen 127.0.0.1:{port} ssl http2;
    ssl_certificate {root}/cert.pem; ssl_certificate_key {root}/key.pem;
    root {root}/www;
  }}
}}
""")
    proc = subprocess.Popen([nginx, "-c", str(root / "nginx.conf"), "-e", str(root / "error.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, proc, 5)
    yield f"https://127.0.0.1:{port}"
    proc.terminate()
    proc.wait()


def test_http2_where_tls_offers_it_and_http11_when_asked(nginx_tls):
    (h2,) = load(nginx_tls, "/hello.txt", requests=10, rate=100, verify=False)
    assert h2["protocol"] == "HTTP/2" and h2["status_counts"] == {"200": 10}
    (h1,) = load(nginx_tls, "/hello.txt", requests=10, rate=100, verify=False, http2=False)
    assert h1["protocol"] == "HTTP/1.1" and h1["status_counts"] == {"200": 10}


def test_tls_is_verified_by_default(nginx_tls):
    (result,) = load(nginx_tls, "/hello.txt", requests=3, rate=100)
    assert result["errors"] == 3 and result["count"] == 0
    assert "certificate verify failed" in result["error_samples"][0]


@pytest.mark.parametrize("http2, protocol", [(True, "HTTP/2"), (False, "HTTP/1.1")])
def test_a_body_past_the_cap_is_read_no_further_and_the_endpoint_sent_no_more(nginx_tls, http2, protocol):
    (big, small) = load(nginx_tls, "/big.bin", "/hello.txt", requests=10, rate=100, concurrency=2,
                        verify=False, http2=http2)
    assert big["error_samples"] == ["body larger than 4 MB, read stopped"]
    assert big["stopped_early"] == "body larger than 4 MB, read stopped"
    assert big["count"] == 0 and 1 <= big["errors"] <= 2 and big["sent"] == big["errors"]  # only those in flight
    assert small["status_counts"] == {"200": 10}, small
    assert small["protocol"] == protocol and small["stopped_early"] is None
