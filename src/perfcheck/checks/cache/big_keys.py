"""`cache.big_keys`: No oversized keys."""

from __future__ import annotations

from typing import Any

from perfcheck.checks.support.redis import plural, severity
from perfcheck.model import Finding
from perfcheck.registry import Outcome, check
from perfcheck.scoring import BELOW_PASS, lognormal
from perfcheck.units import format_bytes


def _limit(item: dict[str, Any], t: dict[str, Any]) -> tuple[float, float, str] | None:
    """(measured, limit, unit) for a key's type, or None when no limit applies."""
    kind = item.get("type")
    if kind == "string":
        size = item["length"] if item.get("length") is not None else item["bytes"]
        return size, t["max_string_bytes"], "bytes"
    if item.get("length") is None:
        return None
    if kind == "hash":
        return item["length"], t["max_hash_fields"], "fields"
    if kind in ("list", "set", "zset", "stream"):
        return item["length"], t["max_elements"], "elements"
    return None


def _coverage(k: dict[str, Any], hint: str) -> str:
    """How much of the keyspace the scan saw, in words."""
    nodes = k.get("nodes", 1)
    where = f" on {nodes} primaries" if nodes > 1 else ""
    if k["complete"]:
        return f"every key scanned ({k['dbsize']:,}{where})"
    share = k.get("share_seen")
    seen = f", about {share:.0%} of the keyspace seen" if isinstance(share, (int, float)) else ""
    return f"{k['scanned']:,} of {k['dbsize']:,} keys scanned{where} (stopped by the {k['stopped_by']}{hint}){seen}"


@check("cache.big_keys", requires=["redis.keys"])
def big_keys(facts, t):
    k = facts["redis.keys"]
    if k.get("memory_usage_denied") and not k["largest"]:
        return Outcome.error(k["memory_usage_denied"])
    scanned, dbsize = k["scanned"], k["dbsize"]
    hint = {"time budget": "; raise redis.sample_seconds to scan them all",
            "key budget": "; raise redis.sample_keys to scan them all"}.get(k["stopped_by"], "")
    coverage = _coverage(k, hint)
    metrics = {"scanned": scanned, "dbsize": dbsize, "complete": k["complete"], "scan_s": k["seconds"],
               "share_seen": k.get("share_seen", 1.0 if k["complete"] else None), "nodes": k.get("nodes", 1),
               "scanned_bytes": k["total_bytes"],
               "largest": [{"key": i["key"], "type": i["type"], "bytes": i["bytes"], "length": i["length"]}
                           for i in k["largest"][:5]]}
    if not dbsize:
        return Outcome.skip(f"db{k['db']} has no keys to judge", metrics=metrics)
    offenders = []
    for item in k["largest"]:
        limit = _limit(item, t)
        if limit and limit[0] > limit[1]:
            offenders.append((item, *limit))
    metrics["offenders"] = len(offenders)
    if k.get("memory_denied_keys"):
        metrics["unreadable_keys"] = k["memory_denied_keys"]
        coverage += f", {plural(k['memory_denied_keys'], 'key')} not read: {k['memory_usage_denied']}"
    if not offenders:
        largest = k["largest"][0] if k["largest"] else None
        biggest = f"; the largest, {largest['key']}, is a {largest['type']} of {format_bytes(largest['bytes'])}" if largest else ""
        return Outcome.passed(f"no key over the limits, {coverage}{biggest}", metrics=metrics)
    worst = max(measured / limit for _, measured, limit, _ in offenders)
    score = min(BELOW_PASS, lognormal(worst, 1.0, 10.0))
    findings = []
    for item, measured, limit, unit in offenders[: int(t["top"])]:
        size = f"{format_bytes(measured)}" if unit == "bytes" else f"{int(measured):,} {unit}"
        shown_limit = format_bytes(limit) if unit == "bytes" else f"{int(limit):,} {unit}"
        extra = "" if unit == "bytes" else f", {format_bytes(item['bytes'])}"
        advice = ("compress it or split it" if item["type"] == "string"
                  else "split it into smaller keys (e.g. buckets by a hash of the member) and read it in pages")
        findings.append(Finding(severity(lognormal(measured / limit, 1.0, 10.0)), item["key"],
                                f"{item['type']} of {size}{extra} (limit {shown_limit}): every read, write or delete "
                                f"blocks Redis while it runs; {advice}", None,
                                {"type": item["type"], "bytes": item["bytes"], "length": item["length"], "limit": limit}))
    more = f" (and {len(offenders) - len(findings)} more)" if len(offenders) > len(findings) else ""
    summary = f"{plural(len(offenders), 'key')} over the limits{more}, {coverage}; largest {offenders[0][0]['key']}"
    return Outcome.scored(score, summary, metrics=metrics, findings=findings)
