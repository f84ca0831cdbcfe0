"""`mon.metrics`: Prometheus metrics are exposed."""

from __future__ import annotations

import re

from perfcheck.model import Finding, Fix
from perfcheck.registry import Outcome, check

REQUEST_METRIC = re.compile(r"request|http|latency|duration|response", re.I)


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
