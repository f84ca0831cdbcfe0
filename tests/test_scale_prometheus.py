"""api.latency from the service's own histogram: /metrics read twice over a window (ms and
seconds buckets), and a real Prometheus server scraping the test API."""

from __future__ import annotations

import json
import math
import time

import pytest

from helpers import check, perfcheck
from perfcheck.collectors.http.histograms import percentiles, quantile, snapshot, unit_scale
from scale_servers import HistogramApi, PrometheusServer, Traffic, prometheus_binary

DELAYS = {"/api/fast": 0.002, "/api/slow": 0.16}  # fast: inside every target; slow: P50 over 50 ms
FLAKY = {"/api/fast": 0.002, "/api/flaky": 0.002}  # flaky: fast, but every other answer is a 500


def test_quantile_interpolates_like_promql():
    inf = math.inf
    buckets = ((10.0, 0.0), (50.0, 50.0), (100.0, 100.0), (inf, 100.0))
    assert quantile(0.5, buckets) == 50.0
    assert quantile(0.75, buckets) == 75.0
    assert quantile(0.25, buckets) == 30.0
    assert quantile(0.99, ((1.0, 10.0), (inf, 100.0))) == 1.0  # in +Inf: the highest finite bound
    assert quantile(0.5, ((1.0, 0.0), (inf, 0.0))) is None


def test_unit_from_name_then_bounds():
    assert unit_scale("http_request_duration_ms", [1, 5, math.inf])[0] == 1.0
    assert unit_scale("http_request_duration_seconds", [0.1, math.inf])[0] == 1000.0
    assert unit_scale("request_latency", [5, 100, 1000, math.inf])[0] == 1.0  # bounds up to 1000: ms
    assert unit_scale("request_latency", [0.005, 0.1, 1, math.inf])[0] == 1000.0


def test_snapshot_sums_other_labels():
    text = ('# TYPE http_request_duration_ms histogram\n'
            'http_request_duration_ms_bucket{method="GET",route="/a",status_code="200",le="10"} 3\n'
            'http_request_duration_ms_bucket{method="GET",route="/a",status_code="200",le="+Inf"} 4\n'
            'http_request_duration_ms_bucket{method="GET",route="/a",status_code="500",le="10"} 1\n'
            'http_request_duration_ms_bucket{method="GET",route="/a",status_code="500",le="+Inf"} 1\n'
            'http_request_duration_ms_count{method="GET",route="/a",status_code="200"} 4\n'
            'http_request_duration_ms_sum{method="GET",route="/a",status_code="200"} 40\n')
    snap = snapshot(text)
    assert snap.route_label == "route" and snap.scale == 1.0
    assert snap.routes[("GET", "/a")].buckets == ((10.0, 4.0), (math.inf, 5.0))


def test_counts_that_went_back_are_not_judged():
    """Two reads that reach different replicas (or straddle a restart): no figure for the route."""
    head = '# TYPE http_request_duration_ms histogram\n'
    def text(fast, slow):
        return head + "".join(
            f'http_request_duration_ms_bucket{{route="{r}",le="{le}"}} {n}\n'
            for r, n in (("/a", fast), ("/b", slow)) for le in ("10", "+Inf"))
    first, second = snapshot(text(100, 50)), snapshot(text(130, 20))
    reset: list[str] = []
    out = percentiles(first, second, (), reset)
    assert set(out) == {"/a"} and out["/a"]["count"] == 30 and reset == ["/b"]


def _write_config(tmp_path, body: str):
    path = tmp_path / "perfcheck.yaml"
    path.write_text(body)
    return str(path)


@pytest.mark.parametrize("unit", ["ms", "s"])
def test_latency_from_metrics_window(tmp_path, unit):
    cfg = _write_config(tmp_path, "http:\n  load:\n    engine: metrics\n    window_s: 3\n")
    with HistogramApi(DELAYS, unit) as api, Traffic(api):
        run = perfcheck("audit", "--url", api.url, "--only", "api.latency", "-c", cfg, "-f", "json")
    assert run.code == 0, run.err
    result = check(run.json, "api.latency")
    assert result["metrics"]["source"]["kind"] == "metrics"
    assert result["metrics"]["source"]["metric"] == f"http_request_duration_{'ms' if unit == 'ms' else 'seconds'}"
    eps = result["metrics"]["endpoints"]
    assert set(eps) == {"GET /api/fast", "GET /api/slow"}, eps
    fast, slow = eps["GET /api/fast"], eps["GET /api/slow"]
    assert fast["source"] == slow["source"] == "metrics"
    assert fast["count"] > 5 and slow["count"] > 5
    assert fast["p50_ms"] <= 5.0  # the 2 ms route lands in the (1, 5] bucket
    assert 100 < slow["p50_ms"] <= 250  # the 160 ms route lands in the (100, 250] bucket
    assert result["status"] == "fail"  # P50 of /api/slow is past 50 ms
    assert "from the service's /metrics" in result["summary"]
    failing = [f for f in result["findings"] if f["object"] == "GET /api/slow"]
    assert failing and not [f for f in result["findings"] if f["object"] == "GET /api/fast"]


def test_metrics_window_without_traffic_is_a_skip(tmp_path):
    cfg = _write_config(tmp_path, "http:\n  load:\n    engine: metrics\n    window_s: 1\n")
    with HistogramApi(DELAYS, "ms") as api:
        run = perfcheck("audit", "--url", api.url, "--only", "api.latency", "-c", cfg, "-f", "json")
    result = check(run.json, "api.latency")
    assert result["status"] == "skip" and "no request was recorded" in result["summary"]


def test_latency_from_a_real_prometheus_server(tmp_path):
    prometheus_binary()
    with HistogramApi({**DELAYS, "/api/flaky": 0.002}, "ms") as api, Traffic(api), \
            PrometheusServer(tmp_path, f"127.0.0.1:{api.port}") as prom:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # rate() over the window needs several scrapes
            if prom.samples('increase(http_request_duration_ms_count[10s]) > 0') >= 2:
                break
            time.sleep(1)
        time.sleep(2)
        cfg = _write_config(tmp_path, f"prometheus:\n  url: {prom.url}\n  window: 10s\n")
        run = perfcheck("audit", "--url", api.url, "--only", "api", "-c", cfg, "-f", "json")
    assert run.code == 0, run.err
    result = check(run.json, "api.latency")
    source = result["metrics"]["source"]
    assert source["kind"] == "prometheus" and source["window_s"] == 10
    assert "histogram_quantile(0.95, sum by (le, route, method) (rate(http_request_duration_ms_bucket[10s])))" \
        == source["queries"]["p95_ms"]
    eps = result["metrics"]["endpoints"]
    assert {"GET /api/fast", "GET /api/slow"} <= set(eps), eps
    assert eps["GET /api/fast"]["p50_ms"] <= 5.0 and 100 < eps["GET /api/slow"]["p50_ms"] <= 250
    assert all(e["source"] == "prometheus" for e in eps.values())
    assert eps["GET /api/flaky"]["status_counts"].get("500", 0) > 0
    assert "500" not in eps["GET /api/fast"]["status_counts"]
    assert result["status"] == "fail" and "from Prometheus" in result["summary"]
    ttfb = check(run.json, "api.ttfb")
    assert ttfb["status"] == "skip"  # a histogram has no first byte; not an error


def test_prometheus_unreachable_is_an_error_with_reason(tmp_path):
    cfg = _write_config(tmp_path, "prometheus:\n  url: http://ops:pr0m-s3cret@127.0.0.1:9\n  window: 1m\n")
    with HistogramApi(DELAYS, "ms") as api:
        run = perfcheck("audit", "--url", api.url, "--only", "api.latency", "-c", cfg, "-f", "json")
    result = check(run.json, "api.latency")
    assert result["status"] == "error" and "Prometheus at http://" in result["summary"]
    assert "127.0.0.1:9" in result["summary"] and "connection refused" in result["summary"].lower() or \
        "ConnectError" in result["summary"]
    assert "Traceback" not in run.err and "pr0m-s3cret" not in run.out + run.err


def test_bad_prometheus_window_is_a_one_line_error(tmp_path):
    cfg = _write_config(tmp_path, "prometheus:\n  url: http://127.0.0.1:9\n  window: soon\n")
    run = perfcheck("audit", "--url", "http://127.0.0.1:9/", "-c", cfg)
    assert run.code == 2 and "prometheus.window" in run.err and len(run.err.strip().splitlines()) == 1


def test_median_of_runs_and_latency_trend(tmp_path):
    cfg = _write_config(tmp_path, "http:\n  endpoints:\n    - {name: fast, path: /api/fast}\n"
                                  "  load: {requests: 20, rate: 50, warmup: 2}\n")
    hist = tmp_path / "hist"
    with HistogramApi(DELAYS, "ms") as api:
        for _ in range(2):
            run = perfcheck("audit", "--url", api.url, "--only", "api.latency", "-c", cfg, "--runs", "3",
                            "--history", str(hist), "-f", "json")
            assert run.code == 0, run.err
    result = check(run.json, "api.latency")
    assert result["metrics"]["source"] == {"kind": "synthetic", "runs": 3, "judged": "median of the runs"}
    fast = result["metrics"]["endpoints"]["fast"]
    assert len(fast["runs_p95_ms"]) == 3 and fast["p95_ms"] == sorted(fast["runs_p95_ms"])[1]
    assert fast["count"] == 60  # three runs of 20
    # perfcheck's own share of each percentile, the median over the runs like the figures
    assert set(fast["own_ms"]) == {"p50_ms", "p95_ms", "p99_ms"}
    assert all(0 <= fast["own_ms"][k] <= fast[k] for k in fast["own_ms"]), fast
    assert "median of 3 runs" in result["summary"]
    trend = perfcheck("trend", str(hist))
    assert trend.code == 0 and "2 runs" in trend.out and "P95 fast" in trend.out
    page = tmp_path / "trend.html"
    assert perfcheck("trend", str(hist), "--html", str(page)).code == 0
    text = page.read_text()
    assert text.count("<svg") == 2 and "<polyline" in text and "P95 fast" in text  # score, P95 of fast
    data = json.loads(perfcheck("trend", str(hist), "--json").out)
    assert [r["latency"]["fast"]["source"] for r in data["runs"]] == ["synthetic", "synthetic"]


def test_a_figure_past_the_top_bucket_is_never_a_pass(tmp_path):
    """Buckets up to 100 ms and a 120 ms route: every percentile reads "100 ms", a floor;
    with targets of 500 ms it could be within them or not, so the check may not pass."""
    cfg = _write_config(tmp_path, "http:\n  load: {engine: metrics, window_s: 3}\n"
                                  "checks:\n  api.latency: {thresholds: {p50_ms: 500, p95_ms: 500, p99_ms: 500}}\n")
    with HistogramApi({"/api/slowish": 0.12}, "ms", buckets=(1, 5, 10, 25, 50, 100)) as api, Traffic(api):
        run = perfcheck("audit", "--url", api.url, "--only", "api.latency", "-c", cfg, "-f", "json")
    result = check(run.json, "api.latency")
    entry = result["metrics"]["endpoints"]["GET /api/slowish"]
    assert entry["p99_ms"] == 100.0 and "p99_ms" in entry["above_top_bucket"]
    assert result["status"] == "warn", result
    assert any("cannot be told" in f["message"] for f in result["findings"])


def test_server_errors_counted_by_the_histogram_fail_the_route(tmp_path):
    cfg = _write_config(tmp_path, "http:\n  load: {engine: metrics, window_s: 3}\n")
    with HistogramApi(FLAKY, "ms") as api, Traffic(api):
        run = perfcheck("audit", "--url", api.url, "--only", "api.latency", "-c", cfg, "-f", "json")
    result = check(run.json, "api.latency")
    flaky = result["metrics"]["endpoints"]["GET /api/flaky"]
    assert set(flaky["status_counts"]) == {"200", "500"}
    failed = [f for f in result["findings"] if f["object"] == "GET /api/flaky"]
    assert failed and failed[0]["severity"] == "fail" and "by the service's own histogram" in failed[0]["message"]
    assert not [f for f in result["findings"] if f["object"] == "GET /api/fast"]
    assert result["status"] == "fail"
