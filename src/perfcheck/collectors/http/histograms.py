"""Latency percentiles from a service's own Prometheus histogram.

Two snapshots of `/metrics` taken a window apart give, per route, the requests the service
answered in between, counted into its histogram buckets; a percentile is then interpolated
inside its bucket exactly as PromQL's `histogram_quantile` does. The buckets may be in seconds
(`*_seconds`, the Prometheus convention) or in milliseconds (`*_ms`, prom-client's common
`http_request_duration_ms`); the unit is read from the name, else from the bucket bounds.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

QUANTILES = {"p50_ms": 0.50, "p95_ms": 0.95, "p99_ms": 0.99}
# The label that names the route, in the order perfcheck looks for it.
ROUTE_LABELS = ("route", "path", "handler", "endpoint", "url", "uri", "operation")
METHOD_LABELS = ("method", "http_method", "verb")
STATUS_LABELS = ("status_code", "status", "code", "http_status")
NAME_HINTS = ("request_duration", "request_latency", "response_time", "requests_duration", "latency", "duration")
SECONDS_MAX_BOUND = 60.0  # finite seconds buckets rarely go past a minute; ms buckets usually do


class HistogramError(ValueError):
    """No usable request-duration histogram; the message is one line for the user."""


@dataclass(frozen=True)
class Histogram:
    """One route's cumulative buckets: (upper bound, count) sorted by bound, +Inf last."""

    buckets: tuple[tuple[float, float], ...]

    @property
    def count(self) -> float:
        return self.buckets[-1][1] if self.buckets else 0.0

    def minus(self, earlier: Histogram | None) -> Histogram | None:
        """The requests between `earlier` and this one; None when a count went back (a restart,
        or a load balancer that sent the two reads to different replicas): then what the
        window held can't be told."""
        if earlier is None:
            return self
        before = dict(earlier.buckets)
        delta = tuple((le, n - before.get(le, 0.0)) for le, n in self.buckets)
        if any(n < 0 for _, n in delta):
            return None
        return Histogram(delta)


def quantile(q: float, buckets: tuple[tuple[float, float], ...]) -> float | None:
    """PromQL's histogram_quantile on cumulative buckets (linear inside the bucket; the
    lowest bucket starts at 0; a rank in the +Inf bucket answers the highest finite bound)."""
    if len(buckets) < 2 or not math.isinf(buckets[-1][0]):
        return None
    total = buckets[-1][1]
    if total <= 0:
        return None
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for le, n in buckets:
        if n >= rank:
            if math.isinf(le):
                return buckets[-2][0]
            if n == lower_count:
                return le
            start = lower_bound if lower_bound > 0 or le <= 0 else 0.0
            return start + (le - start) * (rank - lower_count) / (n - lower_count)
        lower_bound, lower_count = le, n
    return buckets[-2][0]


def unit_scale(name: str, bounds: list[float], unit: str = "") -> tuple[float, str]:
    """Milliseconds per bucket unit, and how it was told: from the name/unit, else the bounds."""
    text = f"{name} {unit}".lower()
    if re.search(r"(_ms|_milliseconds|millisecond)\b", text) or unit.lower() in ("ms", "milliseconds"):
        return 1.0, "milliseconds (from the name)"
    if re.search(r"(_seconds|_s)\b", text) or unit.lower() in ("s", "seconds"):
        return 1000.0, "seconds (from the name)"
    if re.search(r"(_us|_microseconds)\b", text):
        return 0.001, "microseconds (from the name)"
    finite = [b for b in bounds if not math.isinf(b)]
    if finite and max(finite) > SECONDS_MAX_BOUND:
        return 1.0, f"milliseconds (bucket bounds up to {max(finite):g})"
    return 1000.0, f"seconds (bucket bounds up to {max(finite) if finite else 0:g})"


@dataclass
class Snapshot:
    """The chosen histogram in one exposition: per (method, route), its buckets."""

    metric: str
    route_label: str
    method_label: str | None
    scale: float
    unit: str
    routes: dict[tuple[str, str], Histogram]
    # Per route, the requests counted under each status label value (when the histogram has one).
    statuses: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)


def _histograms(text: str) -> dict[str, Any]:
    try:
        return {f.name: f for f in text_string_to_metric_families(text) if f.type == "histogram"}
    except Exception as exc:  # the parser raises ValueError and others on malformed text
        raise HistogramError(f"/metrics does not parse as Prometheus text: {str(exc)[:120] or type(exc).__name__}") from None


def pick_metric(names: list[str], wanted: str | None = None) -> str:
    """The request-duration histogram among `names` (the base names, without _bucket)."""
    if wanted:
        base = wanted.removesuffix("_bucket")
        if base not in names:
            raise HistogramError(f"no histogram named {base!r} (found: {', '.join(sorted(names)[:8]) or 'none'})")
        return base
    for hint in NAME_HINTS:
        hits = sorted(n for n in names if hint in n and ("http" in n or "request" in n or hint != "duration"))
        if hits:
            return hits[0]
    raise HistogramError("no request-duration histogram found (looked for names with "
                         f"{', '.join(NAME_HINTS[:3])}; found: {', '.join(sorted(names)[:8]) or 'no histogram'}); "
                         "set http.load.histogram")


def snapshot(text: str, metric: str | None = None, route_label: str | None = None) -> Snapshot:
    """The request-duration histogram of one /metrics answer, summed over every label
    but the route and the method."""
    families = _histograms(text)
    name = pick_metric(list(families), metric)
    family = families[name]
    buckets = [s for s in family.samples if s.name.endswith("_bucket") and "le" in s.labels]
    if not buckets:  # a labelled histogram shows no series before its first request
        return Snapshot(name, route_label or ROUTE_LABELS[0], None, *unit_scale(name, []), {})
    labels = set().union(*(s.labels for s in buckets))
    route = route_label or next((lbl for lbl in ROUTE_LABELS if lbl in labels), None)
    if route is None or route not in labels:
        raise HistogramError(f"histogram {name} has no route label (labels: {', '.join(sorted(labels - {'le'})) or 'none'}); "
                             "set http.load.route_label")
    method = next((lbl for lbl in METHOD_LABELS if lbl in labels), None)
    status = next((lbl for lbl in STATUS_LABELS if lbl in labels), None)
    sums: dict[tuple[str, str], dict[float, float]] = {}
    statuses: dict[tuple[str, str], dict[str, float]] = {}
    for sample in buckets:
        key = (sample.labels.get(method, "") if method else "", sample.labels.get(route, ""))
        le = float(sample.labels["le"])
        per = sums.setdefault(key, {})
        per[le] = per.get(le, 0.0) + float(sample.value)
        if status and math.isinf(le):
            code = statuses.setdefault(key, {})
            code[sample.labels.get(status, "")] = code.get(sample.labels.get(status, ""), 0.0) + float(sample.value)
    scale, unit = unit_scale(name, [float(s.labels["le"]) for s in buckets], getattr(family, "unit", "") or "")
    routes = {key: Histogram(tuple(sorted(per.items()))) for key, per in sums.items()}
    return Snapshot(name, route, method, scale, unit, routes, statuses)


def status_counts(before: Snapshot | None, after: Snapshot, key: tuple[str, str]) -> dict[str, int]:
    """The route's requests per status in the window (a status count that fell: a restart, counted whole)."""
    was = (before.statuses.get(key) or {}) if before else {}
    now = after.statuses.get(key) or {}
    if any(n < was.get(code, 0.0) for code, n in now.items()):
        was = {}
    return {code: int(n - was.get(code, 0.0)) for code, n in sorted(now.items()) if n - was.get(code, 0.0) > 0}


def route_name(method: str, route: str) -> str:
    return f"{method.upper()} {route}" if method else route


def percentiles(before: Snapshot | None, after: Snapshot, skip_routes: tuple[str, ...] = (),
                reset: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Per route (with requests in the window): count, P50/P95/P99 in ms, and where they came
    from. Routes whose counts went back are left out and named in `reset`."""
    out: dict[str, dict[str, Any]] = {}
    for (method, route), hist in sorted(after.routes.items()):
        if route in skip_routes:
            continue
        window = hist.minus(before.routes.get((method, route)) if before else None)
        if window is None:
            if reset is not None:
                reset.append(route_name(method, route))
            continue
        if window.count <= 0:
            continue
        bounds = [le for le, _ in window.buckets]
        entry: dict[str, Any] = {"count": int(window.count)}
        for key, q in QUANTILES.items():
            value = quantile(q, window.buckets)
            entry[key] = None if value is None else round(value * after.scale, 3)
        finite = [b for b in bounds if not math.isinf(b)]
        top = finite[-1] * after.scale if finite else None
        # A rank in the +Inf bucket: the figure is only "at least the highest bound".
        entry["above_top_bucket"] = [k for k in QUANTILES if top is not None and entry[k] is not None
                                     and entry[k] >= top and window.buckets[-2][1] < window.count * QUANTILES[k]]
        entry["bucket_bounds_ms"] = [round(b * after.scale, 3) for b in finite]
        if after.statuses:
            entry["status_counts"] = status_counts(before, after, (method, route))
        out[route_name(method, route)] = entry
    return out
