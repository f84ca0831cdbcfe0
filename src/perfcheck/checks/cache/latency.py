"""`cache.latency`: Redis answers quickly."""

from __future__ import annotations

from typing import Any

from perfcheck.checks.support.redis import severity
from perfcheck.model import Finding, Fix
from perfcheck.registry import Outcome, check
from perfcheck.scoring import BELOW_PASS, lognormal


def _blocking(recent: list[dict[str, Any]], target_ms: float) -> tuple[float, Finding] | None:
    """One command that held Redis's single thread longer than the whole round-trip target
    made every client wait that long: a finding however few entries the slowlog holds."""
    over = [e for e in recent if (e.get("duration_us") or 0) / 1000 > target_ms]
    if not over:
        return None
    slowest = max(over, key=lambda e: e.get("duration_us") or 0)
    slowest_ms = (slowest.get("duration_us") or 0) / 1000
    # Past the target is never a pass; a rare block alone is a warning, not a failure.
    score = max(0.5, min(BELOW_PASS, lognormal(slowest_ms, target_ms, target_ms * 5)))
    return score, Finding(severity(score), f"blocked {slowest['command']}",
                          f"{slowest['command']} (key {slowest['key']}) blocked Redis for {slowest_ms:.1f} ms, longer "
                          f"than the whole {target_ms:g} ms round-trip target; Redis runs one command at a time, so "
                          f"every client waited ({len(over)} such slowlog entries)", None,
                          {"duration_ms": slowest_ms, "target_ms": target_ms, "entries_over_target": len(over)})


@check("cache.latency", requires=["redis.latency"])
def latency(facts, t):
    lat = facts["redis.latency"]
    rt = lat["all_ms"]
    p50, p99 = rt["p50"], rt["p99"]
    s50 = lognormal(p50, t["p50_ms"], t["p50_ms"] * 5)
    s99 = lognormal(p99, t["p99_ms"], t["p99_ms"] * 5)
    metrics = {"samples": lat["samples"], "p50_ms": p50, "p90_ms": rt["p90"], "p99_ms": p99, "max_ms": rt["max"],
               "ping_ms": lat["ping_ms"], "get_ms": lat["get_ms"]}
    findings = []
    for name, value, limit, part in (("p50", p50, t["p50_ms"], s50), ("p99", p99, t["p99_ms"], s99)):
        if value > limit:
            findings.append(Finding(severity(part), f"round trip {name}",
                                    f"{name} {value:.2f} ms over {lat['samples']} PING/GET round trips (target {limit} ms): "
                                    "keep Redis close to the application and pipeline commands", None,
                                    {name + "_ms": value, "target_ms": limit}))
    slowlog = lat.get("slowlog") or {}
    parts = [s50, s99]  # each percentile against its own target, then the slowlog: the worst is the score
    summary = f"round trip p50 {p50:.2f} ms, p99 {p99:.2f} ms over {lat['samples']} PING/GET"
    if slowlog.get("denied"):
        findings.append(Finding("info", "SLOWLOG", f"{slowlog['denied']}: slow commands were not checked", None))
        summary += "; slowlog not readable"
    elif "entries" in slowlog:
        since = slowlog["now"] - t["slowlog_hours"] * 3600
        recent = [e for e in slowlog["entries"] if (e.get("start_time") or 0) >= since]
        metrics["slowlog_recent"] = len(recent)
        metrics["slowlog_length"] = slowlog.get("length")
        slow_score = 1.0 if not recent else lognormal(len(recent), t["max_slowlog"], t["max_slowlog"] * 5)
        parts.append(slow_score)
        summary += f"; {len(recent)} slowlog entries in the last {t['slowlog_hours']} h"
        by_command: dict[str, list[dict[str, Any]]] = {}
        for entry in recent:
            by_command.setdefault(entry["command"], []).append(entry)
        for command, entries in sorted(by_command.items(), key=lambda kv: -len(kv[1])):
            slowest = max(entries, key=lambda e: e.get("duration_us") or 0)
            findings.append(Finding(severity(slow_score), command,
                                    f"{len(entries)} slowlog entries in the last {t['slowlog_hours']} h, the slowest "
                                    f"{(slowest.get('duration_us') or 0) / 1000:.1f} ms (key {slowest['key']})", None,
                                    {"entries": len(entries), "slowest_us": slowest.get("duration_us"),
                                     "key": slowest["key"]}))
        blocking = _blocking(recent, t["p99_ms"])
        if blocking:
            parts.append(blocking[0])
            findings.append(blocking[1])
        slower_than = slowlog.get("slower_than_us")
        if slower_than is not None and slower_than < 0:
            findings.append(Finding("info", "slowlog-log-slower-than",
                                    "the slowlog is off, so slow commands leave no trace",
                                    Fix.manual("CONFIG SET slowlog-log-slower-than 10000"),
                                    {"slowlog_log_slower_than": slower_than}))
    for command, stats in sorted((lat.get("server") or {}).items(), key=lambda kv: -(kv[1].get("p99") or 0)):
        p99_server_ms = (stats.get("p99") or 0) / 1000
        if p99_server_ms > t["p99_ms"] and (stats.get("calls") or 0) >= 10:
            findings.append(Finding("info", command,
                                    f"p99 {p99_server_ms:.1f} ms inside Redis over {stats['calls']:,} calls "
                                    "(INFO latencystats)", None, {"server_p99_ms": p99_server_ms, "calls": stats["calls"]}))
    return Outcome.scored(min(parts), summary, metrics=metrics, findings=findings)
