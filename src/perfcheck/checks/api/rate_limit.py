"""`api.rate_limit`: Requests are rate limited."""

from __future__ import annotations

from typing import Any

from perfcheck.checks.support.http import header, label, names, share_score
from perfcheck.model import Finding, Fix
from perfcheck.registry import Outcome, check

RATE_LIMIT_HEADERS = ("ratelimit", "ratelimit-policy", "ratelimit-limit", "ratelimit-remaining", "x-ratelimit-limit",
                      "x-ratelimit-remaining", "x-rate-limit-limit", "x-rate-limit-remaining")


def _limit_headers(e: dict[str, Any]) -> list[str]:
    return [h for h in RATE_LIMIT_HEADERS if header(e, h)]


@check("api.rate_limit", requires=["http.endpoints", "http.rate_limit_burst"])
def rate_limit(facts, t):
    api = [e for e in facts["http.endpoints"] if e.get("kind") in ("api", "list") and e.get("status")]
    burst = facts["http.rate_limit_burst"]
    if not api and not burst.get("enabled"):
        return Outcome.skip("no API endpoint configured to look for rate-limit headers (http.endpoints)")
    findings = []
    with_headers = [e for e in api if _limit_headers(e)]
    for e in api:
        if not _limit_headers(e):
            findings.append(Finding("fail", label(e), "no rate-limit headers (RateLimit-* or X-RateLimit-*) in the answer",
                                    Fix.manual("rate-limit the API (a token bucket in Redis) and announce it with RateLimit headers"),
                                    {"status": e["status"]}))
    header_part = share_score(len(with_headers), len(api)) if api else 1.0
    metrics: dict[str, Any] = {"endpoints": len(api), "with_headers": len(with_headers), "burst": burst.get("enabled", False)}
    if not burst.get("enabled"):
        score = header_part if with_headers else 0.2
        which = f" ({names([label(e) for e in with_headers])})" if with_headers and len(with_headers) < len(api) else ""
        summary = (f"rate-limit headers on {len(with_headers)}/{len(api)} endpoints{which}; burst not probed "
                   "(opt in: http.rate_limit_burst.requests)")
        return Outcome.scored(score, summary, metrics=metrics, findings=findings)
    limited = burst.get("limited")
    metrics.update({"burst_sent": burst["sent"], "burst_seconds": burst["seconds"], "statuses": burst["statuses"]})
    if limited:
        retry_after = limited["headers"].get("retry-after")
        metrics["limited_after"] = limited["after"]
        if retry_after:
            burst_part = 1.0
        else:
            burst_part = 0.6
            findings.append(Finding("warn", burst["endpoint"], f"the 429 after {limited['after']} requests has no Retry-After",
                                    Fix.manual("send Retry-After with every 429"), {"after": limited["after"]}))
        summary = f"{burst['endpoint']}: 429 after {limited['after']} requests in {burst['seconds']} s" + (
            f" with Retry-After: {retry_after}" if retry_after else "")
    else:
        burst_part = 0.0
        findings.append(Finding("fail", burst["endpoint"], f"a burst of {burst['sent']} requests in {burst['seconds']} s "
                                f"got no 429 ({', '.join(f'{k}: {v}' for k, v in burst['statuses'].items())})",
                                Fix.manual("answer 429 with Retry-After once a client exceeds its rate"),
                                {"sent": burst["sent"], "seconds": burst["seconds"], "statuses": burst["statuses"]}))
        summary = f"{burst['endpoint']}: no 429 in a burst of {burst['sent']} requests"
    return Outcome.scored(0.7 * burst_part + 0.3 * header_part, summary, metrics=metrics, findings=findings)
