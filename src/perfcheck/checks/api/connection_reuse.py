"""`api.connection_reuse`: Connections are reused."""

from __future__ import annotations

from perfcheck.model import Finding, Fix
from perfcheck.registry import Outcome, check


@check("api.connection_reuse", requires=["http.connection_reuse"])
def connection_reuse(facts, t):
    r = facts["http.connection_reuse"]
    if not r["answered"]:
        return Outcome.error("the keep-alive probe got no answer: " + "; ".join(r["errors"]))
    metrics = {k: r[k] for k in ("requests", "connections", "http_versions", "connection_close")}
    findings = []
    if r["connections"] > 1:
        close = " (the server sends Connection: close)" if r["connection_close"] else ""
        score = 0.0 if r["connections"] >= r["requests"] else 0.6
        findings.append(Finding("fail" if score == 0 else "warn", f"GET {r['path']}",
                                f"{r['requests']} requests needed {r['connections']} connections{close}: every new one "
                                "costs a TCP (and TLS) handshake", Fix.manual("enable keep-alive in the server and proxy"),
                                metrics))
        return Outcome.scored(score, findings[0].message, metrics=metrics, findings=findings)
    versions = ", ".join(r["http_versions"])
    if r["scheme"] == "https" and "HTTP/2" not in r["http_versions"]:
        findings.append(Finding("warn", f"GET {r['path']}", f"TLS without HTTP/2 (ALPN offered h2, got {versions})",
                                Fix.manual("enable HTTP/2 in the TLS terminator (nginx: listen 443 ssl; http2 on;)"), metrics))
        return Outcome.scored(0.8, f"keep-alive works; {versions} over TLS, no HTTP/2", metrics=metrics, findings=findings)
    note = "" if r["scheme"] == "https" else " (plain HTTP: HTTP/2 is judged over TLS only)"
    return Outcome.passed(f"{r['requests']} requests over one connection, {versions}{note}", metrics=metrics)
