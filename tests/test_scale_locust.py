"""api.latency judged from a Locust run: a headless master and two local workers against
the test API, bounded in users, spawn rate and run time, on loopback."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from helpers import check, perfcheck
from perfcheck.collectors.http.locust_engine import locustfile
from http_servers import stop
from perfcheck.demo.sandbox import free_port
from scale_servers import HistogramApi

pytestmark = pytest.mark.skipif(importlib.util.find_spec("locust") is None, reason="locust is not installed")

CONFIG = """\
http:
  endpoints:
    - {name: fast, path: /api/fast}
    - {name: slow, path: /api/slow}
  load:
    engine: locust
    locust: {users: 8, spawn_rate: 8, run_time_s: 5, workers: 2}
"""


def test_locust_master_and_two_workers(tmp_path):
    (tmp_path / "perfcheck.yaml").write_text(CONFIG)
    with HistogramApi({"/api/fast": 0.002, "/api/slow": 0.16}) as api:
        run = perfcheck("audit", "--url", api.url, "--only", "api.latency", "-c", str(tmp_path / "perfcheck.yaml"),
                        "-f", "json", timeout=180)
    assert run.code == 0, run.err
    result = check(run.json, "api.latency")
    source = result["metrics"]["source"]
    assert source["kind"] == "locust" and source["workers"] == 2 and source["users"] == 8
    eps = result["metrics"]["endpoints"]
    assert set(eps) == {"fast", "slow"}, eps
    assert all(e["source"] == "locust" for e in eps.values())
    assert eps["fast"]["count"] >= 10 and eps["slow"]["count"] >= 10
    assert eps["fast"]["p95_ms"] < 100
    assert eps["slow"]["p50_ms"] >= 150
    assert result["status"] == "fail" and "from Locust" in result["summary"]
    assert [f["object"] for f in result["findings"] if f["severity"] in ("fail", "warn")] == ["slow"]


def test_locustfile_keeps_endpoint_text_out_of_the_code():
    text = locustfile([{"name": 'x"); import os; os.system("boom', "path": "/a", "headers": {}}])
    compile(text, "locustfile.py", "exec")
    assert "\nimport os" not in text


def test_locust_waits_for_a_remote_worker(tmp_path):
    """--locust-expect-workers: no local worker; one started apart (as on another machine,
    fetching the locustfile from the master with `-f -`) does the run."""
    port = free_port()
    (tmp_path / "perfcheck.yaml").write_text(CONFIG.replace("workers: 2}", f"workers: 1, master_port: {port}}}"))
    worker = subprocess.Popen([sys.executable, "-m", "locust", "--worker", "-f", "-", "--master-host", "127.0.0.1",
                               "--master-port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              cwd=tmp_path)
    try:
        with HistogramApi({"/api/fast": 0.002, "/api/slow": 0.16}) as api:
            run = perfcheck("audit", "--url", api.url, "--only", "api.latency", "-c", str(tmp_path / "perfcheck.yaml"),
                            "--locust-expect-workers", "-f", "json", timeout=180)
    finally:
        stop(worker)
    assert run.code == 0, run.err
    result = check(run.json, "api.latency")
    assert result["metrics"]["source"]["expect_workers"] is True and result["metrics"]["source"]["workers"] == 1
    assert result["metrics"]["endpoints"]["fast"]["count"] >= 10
