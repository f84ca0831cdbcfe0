"""Where `http.latency` comes from besides perfcheck's own synthetic run: the service's
/metrics histogram read twice over a window, a Prometheus server's HTTP API, or the median of
several synthetic runs. Each returns the fact in the synthetic run's shape (endpoints with
count and P50/P95/P99 in ms), with `source` saying where every figure came from."""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable

from perfcheck.collectors import FactUnavailable
from perfcheck.collectors.http import histograms, prometheus
from perfcheck.collectors.http.histograms import HistogramError
from perfcheck.model import Status

ENGINES = ("auto", "synthetic", "metrics", "prometheus", "locust")
MEDIAN_KEYS = ("p50_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms", "ttfb_p50_ms", "ttfb_p95_ms", "ttfb_p99_ms")
SUM_KEYS = ("count", "errors", "timeouts", "unfinished")


def engine_of(options: dict[str, Any]) -> str:
    """The configured engine; `auto` is Prometheus when a server is configured, else synthetic."""
    engine = str((options.get("load") or {}).get("engine") or "auto")
    if engine == "auto":
        return "prometheus" if (options.get("prometheus") or {}).get("url") else "synthetic"
    return engine


def from_metrics(fetch: Callable[[], str], options: dict[str, Any], remaining: float | None,
                 sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Read /metrics, wait the window, read it again: percentiles of the requests in between."""
    load = options.get("load") or {}
    window = float(load.get("window_s", 10))
    if remaining is not None:
        if remaining < 2.0:
            raise FactUnavailable("not run: too little of the time budget (max_seconds) was left for the /metrics window",
                                  Status.ERROR)
        window = min(window, remaining - 1.0)
    try:
        first = histograms.snapshot(fetch(), load.get("histogram") or None, load.get("route_label") or None)
        started = time.monotonic()
        sleep(window)
        label = first.route_label if first.routes else load.get("route_label") or None
        second = histograms.snapshot(fetch(), first.metric, label)
    except HistogramError as exc:
        raise FactUnavailable(f"latency from /metrics: {exc}", Status.ERROR) from None
    waited = time.monotonic() - started
    skip = tuple(p for p in (options.get("metrics_path"), options.get("health_path")) if p)
    reset: list[str] = []
    endpoints = histograms.percentiles(first, second, skip, reset)
    if reset and not endpoints:
        raise FactUnavailable(f"latency from /metrics: the counts of {len(reset)} route(s) went back between the two "
                              "reads (a restart, or a load balancer sending each read to another replica); "
                              "read them from Prometheus instead (--prometheus URL)", Status.SKIP)
    if not endpoints:
        raise FactUnavailable(f"latency from /metrics: no request was recorded in {first.metric} during the "
                              f"{waited:.0f} s window (no traffic?); the synthetic run (http.load.engine: synthetic) "
                              "measures an idle service", Status.SKIP)
    source = {"kind": "metrics", "metric": first.metric, "unit": first.unit, "window_s": round(waited, 1),
              "route_label": first.route_label, **({"reset_routes": reset} if reset else {})}
    for entry in endpoints.values():
        entry["source"] = "metrics"
    return {"endpoints": endpoints, "source": source}


def from_prometheus(options: dict[str, Any], verify: bool) -> dict[str, Any]:
    settings = options.get("prometheus") or {}
    try:
        result = prometheus.percentiles(
            settings["url"], window=settings.get("window", "5m"), metric=settings.get("metric") or None,
            selector=settings.get("selector", ""), route_label=settings.get("route_label") or None,
            timeout_s=float(settings.get("timeout_s", options.get("timeout_s", 10))), verify=verify)
    except (HistogramError, ValueError) as exc:
        raise FactUnavailable(f"latency from Prometheus: {exc}", Status.ERROR) from None
    if not result["endpoints"]:
        raise FactUnavailable(f"latency from Prometheus: no request of {result['metric']} in the last "
                              f"{result['window_s']:g} s (no traffic, or the selector matches nothing)", Status.SKIP)
    for entry in result["endpoints"].values():
        entry["source"] = "prometheus"
    source = {"kind": "prometheus", "metric": result["metric"], "unit": result["unit"], "window_s": result["window_s"],
              "queries": result["queries"]}
    return {"endpoints": result["endpoints"], "source": source}


def median_of_runs(runs: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per endpoint, the median of each percentile over the runs (the counts added up); the
    spread of P95 is kept so that a reader sees how noisy the single runs were."""
    merged: dict[str, dict[str, Any]] = {}
    for name in runs[0]:
        each = [run[name] for run in runs if name in run]
        entry = dict(each[-1])
        for key in MEDIAN_KEYS:
            values = [e[key] for e in each if e.get(key) is not None]
            entry[key] = statistics.median(values) if values else None
        for key in SUM_KEYS:
            entry[key] = sum(e.get(key, 0) or 0 for e in each)
        status: dict[str, int] = {}
        for e in each:
            for code, n in (e.get("status_counts") or {}).items():
                status[code] = status.get(code, 0) + n
        entry["status_counts"] = status
        entry["runs_p95_ms"] = [e.get("p95_ms") for e in each]
        owns = [e["own_ms"] for e in each if e.get("own_ms")]
        if owns:  # perfcheck's own share of each percentile, the median over the runs too
            entry["own_ms"] = {key: statistics.median(own[key] for own in owns) for key in owns[0]}
        entry.pop("histogram", None)  # one run's histogram is not the median's
        merged[name] = entry
    return merged
