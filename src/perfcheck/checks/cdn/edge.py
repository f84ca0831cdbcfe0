"""`cdn.edge`: An edge cache serves static assets."""

from __future__ import annotations

from perfcheck.checks.support.http import EDGE_HEADERS, answered_200, cache_control, header, label, share_score
from perfcheck.model import Finding, Fix
from perfcheck.registry import Outcome, check


def _edge_headers(e: dict) -> dict[str, str]:
    found = {h: header(e, h) for h in EDGE_HEADERS if header(e, h)}
    if header(e, "age"):
        found["age"] = header(e, "age")
    via = header(e, "via")
    if via and any(word in via.lower() for word in ("cache", "varnish", "cloudfront", "fastly", "akamai", "squid")):
        found["via"] = via
    return found


def _served_from_cache(e: dict) -> bool:
    h = _edge_headers(e)
    if h.get("age", "0").strip().isdigit() and int(h.get("age", "0")) > 0:
        return True
    return any("hit" in v.lower() for k, v in h.items() if k != "age" and k != "via")


@check("cdn.edge", requires=["http.assets", "http.endpoints"])
def edge(facts, t):
    assets = answered_200(facts["http.assets"])
    api = [e for e in facts["http.endpoints"] if e.get("kind") in ("api", "list") and e.get("status")]
    findings = []
    for e in api:
        if _served_from_cache(e) and "private" not in cache_control(e) and "no-store" not in cache_control(e):
            findings.append(Finding("fail", label(e), f"an API answer came from a shared cache ({_edge_headers(e)}): "
                                    "users may see each other's or stale data",
                                    Fix.manual("bypass the CDN for /api (cache rule) or send Cache-Control: private, no-store"),
                                    {"headers": _edge_headers(e)}))
    if not assets:
        if findings:
            return Outcome.scored(0.0, findings[0].message, findings=findings)
        return Outcome.skip("no static asset found to look for an edge cache on")
    edged = [a for a in assets if _edge_headers(a)]
    metrics = {"assets": len(assets), "behind_edge": len(edged),
               "edge_headers": sorted({k for a in edged for k in _edge_headers(a)})}
    if findings:
        return Outcome.scored(0.0, findings[0].message, metrics=metrics, findings=findings)
    if not edged:
        # Auditing the origin itself shows no edge even when a CDN fronts it in production.
        findings.append(Finding("warn", assets[0]["path"], "no edge cache seen on static assets (no Age, Cache-Status, "
                                "CF-Cache-Status or X-Cache); if a CDN fronts this origin, audit its public URL",
                                Fix.manual("serve static assets through a CDN or a caching proxy"), {}))
        return Outcome.scored(0.5, "no edge cache seen in front of static assets", metrics=metrics, findings=findings)
    return Outcome.scored(share_score(len(edged), len(assets)),
                          f"{len(edged)}/{len(assets)} assets answered through an edge cache ({', '.join(metrics['edge_headers'])})",
                          metrics=metrics)
