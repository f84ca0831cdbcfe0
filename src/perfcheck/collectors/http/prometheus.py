"""Latency percentiles from a Prometheus server's HTTP API: per route,
`histogram_quantile(q, sum by (le, route) (rate(<metric>_bucket[window])))`, the way a
team's own dashboard reads the same histogram, over millions of real requests."""

from __future__ import annotations

import math
import re
from typing import Any

import httpx

from perfcheck.collectors.http.histograms import (
    METHOD_LABELS,
    QUANTILES,
    ROUTE_LABELS,
    STATUS_LABELS,
    HistogramError,
    pick_metric,
    route_name,
    unit_scale,
)
from perfcheck.redact import redact_url
from perfcheck.units import window_seconds

MAX_SERIES = 500  # routes × methods read back; a label gone wild (ids in paths) is cut here
SELECTOR = re.compile(r"^\{[^{}]*\}$")


class PrometheusApi:
    def __init__(self, url: str, timeout_s: float = 10.0, verify: bool = True):
        self.url = url.rstrip("/")
        self.client = httpx.Client(timeout=timeout_s, verify=verify, trust_env=False)

    def close(self) -> None:
        self.client.close()

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        where = redact_url(self.url + path)
        try:
            answer = self.client.get(self.url + path, params=params)
        except httpx.HTTPError as exc:
            raise HistogramError(f"Prometheus at {redact_url(self.url)}: {type(exc).__name__}: "
                                 f"{str(exc).splitlines()[0] if str(exc) else 'no answer'}") from None
        try:
            body = answer.json()
        except ValueError:
            raise HistogramError(f"{where} answered {answer.status_code} and no JSON: not the Prometheus HTTP API?") from None
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error") if isinstance(body, dict) else None
            raise HistogramError(f"{where}: {answer.status_code} {str(error or 'not a Prometheus answer')[:160]}")
        return body.get("data")

    def metric_names(self) -> list[str]:
        names = self._get("/api/v1/label/__name__/values", {}) or []
        return [n.removesuffix("_bucket") for n in names if isinstance(n, str) and n.endswith("_bucket")]

    def labels_of(self, metric: str, selector: str) -> set[str]:
        series = self._get("/api/v1/series", {"match[]": f"{metric}_bucket{selector}", "limit": 50}) or []
        return set().union(*(set(s) for s in series if isinstance(s, dict))) if series else set()

    def vector(self, query: str) -> list[tuple[dict[str, str], float]]:
        data = self._get("/api/v1/query", {"query": query}) or {}
        out = []
        for item in (data.get("result") or [])[:MAX_SERIES]:
            try:
                out.append((item.get("metric") or {}, float(item["value"][1])))
            except (KeyError, IndexError, TypeError, ValueError):
                continue
        return out


def percentiles(url: str, *, window: Any = "5m", metric: str | None = None, selector: str = "",
                route_label: str | None = None, timeout_s: float = 10.0, verify: bool = True) -> dict[str, Any]:
    """{"endpoints": {route: {count, p50_ms, p95_ms, p99_ms, source}}, "metric", "window", "queries"}."""
    seconds = window_seconds(window)
    if selector and not SELECTOR.match(selector):
        raise HistogramError(f"prometheus.selector {selector!r} must be a label matcher in braces, e.g. {{job=\"api\"}}")
    api = PrometheusApi(url, timeout_s, verify)
    try:
        name = pick_metric(api.metric_names(), metric)
        labels = api.labels_of(name, selector)
        if not labels:
            raise HistogramError(f"Prometheus has no series of {name}_bucket{selector}")
        route = route_label or next((lbl for lbl in ROUTE_LABELS if lbl in labels), None)
        if route is None or route not in labels:
            raise HistogramError(f"{name} has no route label in Prometheus (labels: "
                                 f"{', '.join(sorted(labels - {'le', '__name__'}))}); set prometheus.route_label")
        method = next((lbl for lbl in METHOD_LABELS if lbl in labels), None)
        by = ", ".join(lbl for lbl in (route, method) if lbl)
        rng = f"{int(seconds)}s" if seconds >= 1 else f"{int(seconds * 1000)}ms"
        scale, unit = unit_scale(name, [])
        if unit.startswith("seconds (bucket"):  # the name says nothing: read the bounds
            bounds = api.vector(f"count by (le) ({name}_bucket{selector})")
            scale, unit = unit_scale(name, [float(m.get("le", "nan")) for m, _ in bounds if m.get("le")])
        queries = {"count": f"sum by ({by}) (increase({name}_count{selector}[{rng}]))"}
        for key, q in QUANTILES.items():
            queries[key] = f"histogram_quantile({q}, sum by (le, {by}) (rate({name}_bucket{selector}[{rng}])))"
        endpoints: dict[str, dict[str, Any]] = {}
        for key, query in queries.items():
            for labels_, value in api.vector(query):
                if math.isnan(value) or math.isinf(value):
                    continue
                entry = endpoints.setdefault(route_name(labels_.get(method, "") if method else "", labels_.get(route, "")), {})
                entry[key] = round(value, 1) if key == "count" else round(value * scale, 3)
        endpoints = {k: {**v, "count": int(v.get("count", 0))} for k, v in endpoints.items()
                     if v.get("count", 0) > 0 and any(v.get(p) is not None for p in QUANTILES)}
        status = next((lbl for lbl in STATUS_LABELS if lbl in labels), None)
        if status:
            queries["status_counts"] = f"sum by ({by}, {status}) (increase({name}_count{selector}[{rng}]))"
            for labels_, value in api.vector(queries["status_counts"]):
                entry = endpoints.get(route_name(labels_.get(method, "") if method else "", labels_.get(route, "")))
                if entry is not None and not math.isnan(value) and round(value) > 0:
                    entry.setdefault("status_counts", {})[labels_.get(status, "")] = int(round(value))
        return {"endpoints": endpoints, "metric": name, "unit": unit, "window_s": seconds, "queries": queries}
    finally:
        api.close()
