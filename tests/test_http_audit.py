"""End to end: `perfcheck audit --url URL --format json` against the sample API in its
BAD configuration (each planted problem reported with its id and endpoint, API and CDN
scores under 50) and its GOOD one (the checks pass, API and CDN score 90 or more)."""

from __future__ import annotations

import urllib.request

import pytest
from helpers import category, check, perfcheck
from http_servers import SampleApi

CONFIG = """
http:
  endpoints:
    - {path: /api/items, kind: list}
    - {path: /api/report}
    - {path: /api/items, kind: write, body: {name: widget}}
    - {path: /media/stream.mp3, kind: media}
  rate_limit_burst: {requests: 200}
  socketio_burst: {messages: 15}
  load: {requests: 30, rate: 50, warmup: 3, concurrency: 5, max_seconds: 5}
"""
MINE = ["api.compression", "api.validation", "api.rate_limit", "api.pagination", "api.errors", "api.cors",
        "api.connection_reuse", "cdn.static_cache", "cdn.html_cache", "cdn.compression", "cdn.images",
        "rt.heartbeat", "rt.throttle", "mon.metrics", "mon.health", "cache.levels"]


@pytest.fixture(scope="module")
def config_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("http-audit") / "perfcheck.yaml"
    path.write_text(CONFIG)
    return str(path)


def run_audit(url: str, config_file: str) -> dict:
    run = perfcheck("audit", "--url", url, "--config", config_file, "--format", "json")
    assert run.code == 0, run.err
    return run.json


@pytest.fixture(scope="module")
def bad_app():
    with SampleApi("bad") as app:
        yield app


@pytest.fixture(scope="module")
def bad(bad_app, config_file):
    return run_audit(bad_app.url, config_file)


@pytest.fixture(scope="module")
def good(config_file):
    with SampleApi("good") as app:
        report = run_audit(app.url, config_file)
        with urllib.request.urlopen(app.url + "metrics") as answer:
            metrics = answer.read().decode()
        yield report, metrics


def failing(report: dict, check_id: str) -> dict[str, str]:
    """{object: its fail findings' messages, one a line}."""
    out: dict[str, str] = {}
    for f in check(report, check_id)["findings"]:
        if f["severity"] == "fail":
            out[f["object"]] = (out[f["object"]] + "\n" if f["object"] in out else "") + f["message"]
    return out


def test_bad_reports_uncompressed_json_and_html(bad):
    assert check(bad, "api.compression")["status"] == "fail"
    assert {"GET /api/items", "GET /"} <= failing(bad, "api.compression").keys()
    assert "uncompressed" in failing(bad, "api.compression")["GET /api/items"]


def test_bad_reports_short_cached_assets_and_hour_cached_html(bad):
    assert set(failing(bad, "cdn.static_cache")) == {"/static/app.3f9a1c2b.css", "/static/app.8d0e4f1a.js",
                                                     "/static/hero.5b7c9d2e.jpg"}
    assert "1 min" in failing(bad, "cdn.static_cache")["/static/app.3f9a1c2b.css"]
    assert "1 h" in failing(bad, "cdn.html_cache")["GET /"]
    assert set(failing(bad, "cdn.compression")) == {"/static/app.3f9a1c2b.css", "/static/app.8d0e4f1a.js"}
    assert "/static/hero.5b7c9d2e.jpg" in failing(bad, "cdn.images")


def test_bad_reports_cors_reflecting_any_origin_with_credentials(bad):
    cors = failing(bad, "api.cors")
    assert set(cors) == {"OPTIONS /api/items", "GET /api/items"}
    assert all("credentials" in message.lower() for message in cors.values())


def test_bad_reports_the_500_with_a_traceback_on_bad_input(bad):
    validation = failing(bad, "api.validation")
    assert "malformed JSON crashed the endpoint: 500, with a stack trace" in validation["POST /api/items"]
    assert "oversized field 'name' (100,000 characters) was accepted with 201" in validation["POST /api/items"]
    errors = failing(bad, "api.errors")
    assert "stack trace" in errors["GET /api/items?limit=perfcheck-not-a-number"]
    assert "stack trace" in errors["POST /api/items"]


def test_bad_reports_offset_pagination_no_rate_limit_no_health(bad):
    assert "offset" in failing(bad, "api.pagination")["GET /api/items"]
    rate = check(bad, "api.rate_limit")
    assert rate["status"] == "fail" and rate["metrics"]["statuses"] == {"200": 200}
    assert "no rate-limit headers" in failing(bad, "api.rate_limit")["GET /api/report"]
    assert "404" in failing(bad, "mon.health")["GET /health"]
    assert "no request-duration histogram" in failing(bad, "mon.metrics")["GET /metrics"]
    assert check(bad, "rt.throttle")["status"] == "fail"
    assert check(bad, "cache.levels")["metrics"]["hit_rate"] == {"l1": 0.3, "l2": 0.4}


def test_bad_slow_endpoint_is_reported_when_the_latency_checks_are_installed(bad):
    ids = {c["id"] for c in bad["checks"]}
    if "api.latency" not in ids:
        pytest.skip("api.latency is not installed in this build")
    latency = check(bad, "api.latency")
    assert latency["status"] == "fail"
    assert any("/api/report" in f["object"] for f in latency["findings"] if f["severity"] == "fail")


def test_bad_scores_api_and_cdn_under_50(bad):
    assert category(bad, "api")["score"] < 50
    assert category(bad, "cdn")["score"] < 50


def test_good_passes_every_check_and_scores_90_or_more(good):
    report, _ = good
    for check_id in MINE:
        assert check(report, check_id)["status"] == "pass", (check_id, check(report, check_id)["summary"])
    # Audited at the origin, no CDN is in front of it: a warning, not a failure.
    assert check(report, "cdn.edge")["status"] == "warn"
    assert category(report, "api")["score"] >= 90
    assert category(report, "cdn")["score"] >= 90
    assert category(report, "realtime")["score"] >= 90 and category(report, "monitoring")["score"] >= 90


def test_good_shows_the_evidence_of_each_fix(good):
    report, _ = good
    assert "429 after" in check(report, "api.rate_limit")["summary"] and "Retry-After" in check(report, "api.rate_limit")["summary"]
    assert "304" in check(report, "cdn.html_cache")["summary"]
    assert check(report, "rt.heartbeat")["metrics"] == {"ping_interval_ms": 25000, "ping_timeout_ms": 60000,
                                                        "upgrades": ["websocket"]}
    assert check(report, "rt.throttle")["metrics"]["throttled_acks"] == 5  # 15 sent, 10 per second allowed
    assert check(report, "mon.health")["metrics"]["dependencies"] == {"database": "ok", "redis": "ok"}
    assert check(report, "api.errors")["metrics"]["shapes"] == ["{error}"]


def test_the_audit_writes_only_to_the_configured_write_endpoint(good):
    _, metrics = good
    writes = {}
    for line in metrics.splitlines():
        if line.startswith("sample_requests_total{"):
            labels, value = line[len("sample_requests_total{"):].rsplit("} ", 1)
            parts = dict(item.split("=", 1) for item in labels.split(","))
            method, path = parts["method"].strip('"'), parts["path"].strip('"')
            if method not in ("GET", "HEAD", "OPTIONS"):
                writes[(method, path)] = float(value)
    # The two validation probes, and the opt-in Socket.IO burst's polling posts.
    assert set(writes) <= {("POST", "/api/items"), ("POST", "/socket.io/")}
    assert writes[("POST", "/api/items")] == 2


def received(app: SampleApi) -> float:
    """Requests the app has received so far (this read included)."""
    with urllib.request.urlopen(app.url + "metrics") as answer:
        return sum(float(line.rsplit(" ", 1)[1]) for line in answer.read().decode().splitlines()
                   if line.startswith("sample_requests_total{"))


def test_the_request_budget_is_a_hard_cap(bad_app, tmp_path):
    config = tmp_path / "perfcheck.yaml"
    config.write_text(CONFIG + "  max_requests: 8\n")
    before = received(bad_app)
    run = perfcheck("audit", "--url", bad_app.url, "--config", str(config), "--format", "json")
    sent = received(bad_app) - before - 1
    assert run.code == 0, run.err
    assert 0 < sent <= 8
    starved = [c for c in run.json["checks"] if "request budget (http.max_requests = 8) is spent" in c["summary"]]
    assert starved and all(c["status"] == "error" for c in starved)


def test_the_rate_cap_paces_even_an_opt_in_burst(bad_app, tmp_path):
    config = tmp_path / "perfcheck.yaml"
    config.write_text("http:\n  max_rate: 20\n  endpoints: [{path: /api/items, kind: list}]\n"
                      "  rate_limit_burst: {requests: 30}\n")
    run = perfcheck("audit", "--url", bad_app.url, "--config", str(config), "--only", "api.rate_limit", "--format", "json")
    assert run.code == 0, run.err
    burst = check(run.json, "api.rate_limit")["metrics"]
    assert burst["burst_sent"] == 30
    assert burst["burst_seconds"] >= 29 / 20 * 0.95  # 30 requests at 20 per second
