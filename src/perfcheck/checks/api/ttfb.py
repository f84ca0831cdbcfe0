"""`api.ttfb`: First byte arrives quickly."""

from __future__ import annotations

from perfcheck.checks.support.latency import endpoints_of, fmt_ms, judge_endpoints, metric_label, no_endpoints
from perfcheck.registry import Outcome, check


@check("api.ttfb", requires=["http.latency"])
def ttfb(facts, t):
    fact = facts["http.latency"]
    if not endpoints_of(fact):
        return no_endpoints()
    percentile = str(t.get("percentile", 50)).removeprefix("p").removesuffix("_ms")
    key = f"ttfb_p{percentile}_ms"
    if percentile not in ("50", "95", "99"):
        return Outcome.error(f"checks.api.ttfb.thresholds.percentile must be 50, 95 or 99, not {t.get('percentile')!r}")
    targets = {key: float(t["ttfb_ms"])}
    score, per_endpoint, findings, worst = judge_endpoints(
        fact, targets, ("ttfb_p50_ms", "ttfb_p95_ms", "ttfb_p99_ms", "count"), "the target",
        "Cache or precompute what it serves, stream the response, and keep connections to the database warm",
        count_failures=False)  # failed requests are api.latency's findings
    metrics = {"endpoints": per_endpoint, "target_ms": targets[key], "percentile": int(percentile)}
    if score is None and (fact.get("source") or {}).get("kind", "synthetic") not in ("synthetic",):
        kind = fact["source"]["kind"]
        return Outcome.skip(f"the latency came from {kind}, which does not measure the first byte; "
                            "the synthetic run (http.load.engine: synthetic) does")
    if score is None:
        return Outcome.error("no endpoint answered during the latency run", metrics=metrics, findings=findings)
    value = endpoints_of(fact)[worst].get(key)
    summary = f"slowest first byte: {worst} at {fmt_ms(value)} ({metric_label(key)}; target {targets[key]:g} ms)"
    return Outcome.scored(score, summary, metrics=metrics, findings=findings)
