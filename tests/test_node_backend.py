"""The Node/Express sample backend on the checklist's own stack (tests/apps/node_backend:
compression, express-rate-limit, express-validator, socket.io, prom-client, ioredis, pg through
PgBouncer in transaction mode, behind an nginx edge cache), audited end to end with its Redis: the GOOD form has no warn or
fail in any category it exercises, the BAD form's planted problems are each caught."""

from __future__ import annotations

import os

import pytest

from helpers import check, perfcheck
from http_servers import Nginx
from node_backend import ITEMS_SQL, NodeBackend, PgBouncer, node_modules
from pass_invariant import audit_thresholds, report_contradictions
from perfcheck.demo.sandbox import RedisServer

CONFIG = """
http:
  endpoints:
    - {path: /api/items, kind: list}
    - {path: /api/items/1}
    - {path: /api/report}
    - {path: /api/items, kind: write, body: {name: widget}}
  rate_limit_burst: {requests: 200}
  socketio_burst: {messages: 15}
  load: {requests: 30, rate: 50, warmup: 3, concurrency: 5, max_seconds: 5}
redis: {window_s: 1}
checks:
  # Loopback round trips on the shared 2-core test box have millisecond outliers; the Redis
  # round trip is judged at the checklist's targets in tests/test_cache_verdicts.py.
  cache.latency:
    thresholds: {p99_ms: 20, p50_ms: 5}
"""
# The edge: nginx caching the built assets in front of the app, everything else passed through
# (Socket.IO's long polls unbuffered). {node} is the app's port.
EDGE = r"""
  proxy_cache_path {root}/cache keys_zone=edge:1m;
  server {{
    listen 127.0.0.1:{port0};
    proxy_http_version 1.1; proxy_set_header Connection "";
    location /assets/ {{
      proxy_pass http://127.0.0.1:{node}; proxy_cache edge; proxy_cache_valid 200 10m;
      add_header X-Cache-Status $upstream_cache_status always;
    }}
    location / {{ proxy_pass http://127.0.0.1:{node}; proxy_buffering off; }}
  }}
"""
CATEGORIES = ("api", "cdn", "cache", "realtime", "monitoring")


@pytest.fixture(scope="module")
def stack(pg_server, tmp_path_factory):
    modules = node_modules()
    name = f"nodeapp_{os.getpid()}"
    pg_server.psql(f"CREATE DATABASE {name}")
    pg_server.psql(ITEMS_SQL, database=name)
    config = tmp_path_factory.mktemp("node-backend") / "perfcheck.yaml"
    config.write_text(CONFIG)
    with PgBouncer(pg_server, name) as bouncer:
        yield modules, bouncer, str(config)
    pg_server.psql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
    pg_server.psql(f"DROP DATABASE IF EXISTS {name}")


def audit(mode: str, stack, tmp_path) -> dict:
    modules, bouncer, config = stack
    redis_server = RedisServer(args=["--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"]).start()
    try:
        with NodeBackend(mode, modules, bouncer.url, redis_server.url) as app, \
                Nginx(tmp_path, EDGE.replace("{node}", str(app.port))) as edge:
            run = perfcheck("audit", "--url", edge.url(), "--redis", redis_server.url, "--config", config,
                            "--format", "json", timeout=180)
    finally:
        redis_server.stop()
    assert run.code == 0, run.err
    return run.json


@pytest.fixture(scope="module")
def good(stack, tmp_path_factory):
    return audit("good", stack, tmp_path_factory.mktemp("edge-good"))


@pytest.fixture(scope="module")
def bad(stack, tmp_path_factory):
    return audit("bad", stack, tmp_path_factory.mktemp("edge-bad"))


def fired(report: dict) -> list[str]:
    """Each warn or fail in the exercised categories, with its summary: the failure message."""
    return [f"{c['id']} {c['status']}: {c['summary']}" for c in report["checks"]
            if c["category"] in CATEGORIES and c["status"] in ("warn", "fail")]


def test_good_has_no_warn_or_fail_in_the_categories_it_exercises(good):
    assert not fired(good), "\n".join(fired(good))
    judged = {c["category"] for c in good["checks"] if c["status"] in ("pass", "warn", "fail")}
    assert set(CATEGORIES) <= judged
    judged_with = audit_thresholds({"cache.latency": {"p99_ms": 20, "p50_ms": 5}})
    assert not report_contradictions(good, judged_with)


def test_good_is_recognised_in_the_checklists_own_shapes(good):
    assert check(good, "cdn.static_cache")["metrics"] == {"assets": 2, "hashed": 2}  # Vite's base64url names
    assert check(good, "mon.health")["metrics"]["dependencies"] == {"database": "true", "redis": "true"}
    throttle = check(good, "rt.throttle")
    assert throttle["status"] == "pass" and throttle["metrics"]["refusal_events"] >= 1, throttle
    levels = check(good, "cache.levels")
    assert levels["status"] == "pass" and levels["metrics"]["overall_hit_rate"] > 0.8, levels
    assert levels["metrics"]["hit_rate"]["l1"] < 0.8  # a level under 80 % is evidence, not a verdict
    assert "x-cache-status" in check(good, "cdn.edge")["metrics"]["edge_headers"]


def failing(report: dict, check_id: str) -> set[str]:
    return {f["object"] for f in check(report, check_id)["findings"] if f["severity"] in ("warn", "fail")}


def test_bad_has_each_planted_problem_caught(bad):
    for check_id in ("api.compression", "api.rate_limit", "api.pagination", "api.cors", "cdn.html_cache",
                     "cdn.compression", "rt.throttle", "mon.health", "mon.metrics", "cache.levels", "cache.ttl",
                     "api.latency", "api.validation", "api.errors", "cdn.static_cache", "rt.heartbeat"):
        assert check(bad, check_id)["status"] in ("warn", "fail"), check(bad, check_id)
    static = {f["object"]: f for f in check(bad, "cdn.static_cache")["findings"]}
    assert "cached immutable without a content hash" in static["/assets/app.js"]["message"]
    assert "2 not fingerprinted (2 of them cached immutable)" in check(bad, "cdn.static_cache")["summary"]
    assert "GET /api/report" in failing(bad, "api.latency")
