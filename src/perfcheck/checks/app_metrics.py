"""What the app tells about itself: Prometheus /metrics (mon.metrics), /health
(mon.health) and its cache levels' hit rates from /metrics (cache.levels)."""

from __future__ import annotations

import re
from typing import Any

from perfcheck.model import Finding, Fix
from perfcheck.registry import Outcome, check
from perfcheck.scoring import higher_is_better
from perfcheck.checks.http_facts import is_html, is_json, media_type

REQUEST_METRIC = re.compile(r"request|http|latency|duration|response", re.I)
DEPENDENCY_KEYS = ("checks", "dependencies", "components", "details", "services", "entries", "info", "results")
LEVEL_LABELS = ("cache_level", "level", "layer", "tier")
OK_WORDS = ("ok", "up", "pass", "healthy", "true", "green")



@check("mon.metrics", requires=["http.metrics"])
def metrics(facts, t):
    m = facts["http.metrics"]
    path = m["path"]
    if m.get("status") is None:
        return Outcome.error(f"GET {path} got no answer: {m.get('error')}")
    fix = Fix.manual("expose /metrics with a request-duration histogram (prometheus_client Histogram, "
                 "prometheus-fastapi-instrumentator, express-prom-bundle)")
    if m["status"] != 200:
        return Outcome.scored(0.0, f"GET {path} answered {m['status']}: no metrics to scrape",
                              findings=[Finding("fail", f"GET {path}", f"answered {m['status']}: no Prometheus metrics", fix,
                                                {"status": m["status"]})])
    families = m["families"]
    histograms = [f["name"] for f in families if f["type"] in ("histogram", "gaugehistogram")]
    request_histograms = [n for n in histograms if REQUEST_METRIC.search(n)]
    summaries = [f["name"] for f in families if f["type"] == "summary" and REQUEST_METRIC.search(f["name"])]
    found = {"families": len(families), "histograms": histograms, "request_histograms": request_histograms}
    if request_histograms:
        return Outcome.passed(f"{len(families)} metric families, request-duration histogram: {', '.join(request_histograms)}",
                              metrics=found)
    if summaries:
        return Outcome.scored(0.7, f"request durations only as a summary ({', '.join(summaries)})", metrics=found,
                              findings=[Finding("warn", f"GET {path}", "request durations are a summary: its quantiles "
                                                "can't be aggregated across instances; use a histogram", fix, found)])
    return Outcome.scored(0.2, f"{len(families)} metric families but no request-duration histogram", metrics=found,
                          findings=[Finding("fail", f"GET {path}", "no request-duration histogram: P95 drift goes unseen"
                                            + (f" (histograms present: {', '.join(histograms)})" if histograms else ""),
                                            fix, found)])


def _dependencies(body: Any) -> dict[str, str] | None:
    """{name: status} from a health body's dependency section, whatever its common shape."""
    if not isinstance(body, dict):
        return None
    for key in DEPENDENCY_KEYS:
        section = body.get(key)
        if isinstance(section, dict) and section:
            out = {}
            for name, value in section.items():
                if isinstance(value, dict):
                    value = value.get("status", value.get("state", value.get("healthy", "?")))
                out[str(name)] = str(value)
            return out
        if isinstance(section, list) and section and all(isinstance(x, dict) for x in section):
            return {str(x.get("name", x.get("component", i))): str(x.get("status", "?")) for i, x in enumerate(section)}
    return None


@check("mon.health", requires=["http.health"])
def health(facts, t):
    h = facts["http.health"]
    path = h.get("probe_path", h.get("path"))
    where = f"GET {path}"
    fix = Fix.manual('answer /health with {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}, '
                 "and 503 naming the failing dependency when degraded")
    status = h.get("status")
    if status is None:
        return Outcome.error(f"{where} got no answer: {h.get('error')}")
    if status == 404:
        return Outcome.scored(0.0, f"{where} answered 404: no health endpoint",
                              findings=[Finding("fail", where, "no health endpoint (404): load balancers can't tell a "
                                                "broken instance from a healthy one", fix, {"status": 404})])
    if is_html(h):
        return Outcome.error(f"{where} answered {status} with HTML where JSON was expected (a catch-all route?)")
    deps = _dependencies(h.get("json")) if is_json(h) else None
    metrics = {"status": status, "dependencies": deps}
    if status not in (200, 503):
        return Outcome.scored(0.2, f"{where} answered {status}", metrics=metrics,
                              findings=[Finding("fail", where, f"answered {status}; a health endpoint answers 200, "
                                                "or 503 when degraded", fix, {"status": status})])
    if deps is None:
        what = "a JSON body without per-dependency status" if is_json(h) else f"{media_type(h) or 'a body'} without JSON"
        return Outcome.scored(0.6, f"{where} answered {status} with {what}", metrics=metrics,
                              findings=[Finding("warn", where, f"{what}: it can't say which dependency failed", fix,
                                                {"status": status})])
    failing = {k: v for k, v in deps.items() if v.lower() not in OK_WORDS}
    if status == 503 or failing:
        return Outcome.scored(0.7, f"{where} reports the service degraded ({status}): "
                              + ", ".join(f"{k}={v}" for k, v in failing.items()), metrics=metrics,
                              findings=[Finding("warn", f"{where} {name}", f"dependency {name} is {value}", None,
                                                {"status": status}) for name, value in failing.items()])
    return Outcome.passed(f"{where} answered 200 with {len(deps)} dependencies: "
                          + ", ".join(f"{k}={v}" for k, v in deps.items()), metrics=metrics)


def _by_level(families: list[dict[str, Any]], base: str) -> dict[str, float]:
    """Sum of the `<base>_total` counter per cache level label."""
    out: dict[str, float] = {}
    for family in families:
        if family["name"] not in (base, f"{base}_total"):
            continue
        for s in family["samples"]:
            if s["name"] not in (base, f"{base}_total"):
                continue  # _created and friends
            level = next((s["labels"][k] for k in LEVEL_LABELS if k in s["labels"]), None)
            if level is not None:
                out[level] = out.get(level, 0.0) + float(s["value"])
    return out


@check("cache.levels", requires=["http.metrics"])
def cache_levels(facts, t):
    m = facts["http.metrics"]
    if m.get("status") != 200 or m.get("families") is None:
        return Outcome.skip(f"no /metrics to read cache levels from (GET {m['path']}: {m.get('status') or m.get('error')})")
    hits = _by_level(m["families"], "cache_hits")
    misses = _by_level(m["families"], "cache_misses")
    if not hits:
        return Outcome.skip("the app's /metrics exposes no cache_hits_total{cache_level=…}")
    if not misses:
        return Outcome.skip("cache_hits_total is exposed but cache_misses_total is not, so no hit rate can be computed")
    target, floor = float(t["target"]), float(t["floor"])
    findings, weighted, traffic = [], 0.0, 0.0
    rates = {}
    for level in sorted(hits.keys() | misses.keys()):
        h, mi = hits.get(level, 0.0), misses.get(level, 0.0)
        if h + mi == 0:
            continue
        rate = h / (h + mi)
        rates[level] = round(rate, 4)
        weighted += higher_is_better(rate, target, floor) * (h + mi)
        traffic += h + mi
        if rate < target:
            findings.append(Finding("fail" if rate < floor else "warn", f"cache level {level}",
                                    f"{level} hit rate {rate:.0%} is under the {target:.0%} target ({h:.0f} hits, {mi:.0f} misses)",
                                    Fix.manual(f"size the {level} cache for the hot keys and align TTLs between levels"),
                                    {"hits": h, "misses": mi, "hit_rate": round(rate, 4)}))
    if not traffic:
        return Outcome.skip("the cache counters are all zero: no traffic to judge yet")
    summary = ", ".join(f"{lvl} {rate:.0%}" for lvl, rate in rates.items()) + " hit rate"
    return Outcome.scored(weighted / traffic, summary, metrics={"hit_rate": rates}, findings=findings)
