"""`cache.eviction`: Memory is bounded with an eviction policy fit for a cache."""

from __future__ import annotations

from typing import Any

from perfcheck.checks.support.redis import severity, suggest_maxmemory, window_of
from perfcheck.model import Finding, Fix
from perfcheck.registry import Outcome, check
from perfcheck.units import format_bytes


def _set_lru() -> Fix:
    return Fix.manual("CONFIG SET maxmemory-policy allkeys-lru", "CONFIG REWRITE")


@check("cache.eviction", requires=["redis.info", "redis.config"])
def eviction(facts, t):
    info, config = facts["redis.info"], facts["redis.config"]
    values = config.get("values") or {}
    maxmemory = info.get("maxmemory", values.get("maxmemory"))
    policy = info.get("maxmemory_policy", values.get("maxmemory-policy"))
    if maxmemory is None or policy is None:
        return Outcome.error(f"maxmemory and maxmemory-policy are not in INFO memory here, and "
                             f"{config.get('denied') or 'CONFIG GET did not return them'}")
    maxmemory, policy = int(maxmemory), str(policy)
    used = int(info.get("used_memory", 0))
    system = int(info.get("total_system_memory", 0) or 0)
    keys = sum(v.get("keys", 0) for name, v in info.items() if name.startswith("db") and isinstance(v, dict))
    expires = sum(v.get("expires", 0) for name, v in info.items() if name.startswith("db") and isinstance(v, dict))
    evicted = int(info.get("evicted_keys", 0))
    window = window_of(facts)
    oom = _oom_errors(info)
    ratio = used / maxmemory if maxmemory else None
    metrics = {"maxmemory": maxmemory, "maxmemory_policy": policy, "used_memory": used, "used_ratio": ratio,
               "evicted_keys": evicted, "evicted_in_window": window["evicted_keys"] if window else None,
               "oom_errors": oom, "ttl_share": expires / keys if keys else None}
    fix = Fix.manual(f"CONFIG SET maxmemory {suggest_maxmemory(used, system)}", "CONFIG SET maxmemory-policy allkeys-lru",
                     "CONFIG REWRITE")
    findings: list[Finding] = []
    if maxmemory == 0:
        score, summary = _unbounded(policy, used, fix, findings)
    else:
        summary = f"maxmemory {format_bytes(maxmemory)} ({ratio:.0%} used), policy {policy}"
        score = _policy_score(policy, ratio, maxmemory, keys, expires, t, findings)
        if system and maxmemory > system:
            score = min(score, 0.6)
            findings.append(Finding("warn", "maxmemory",
                                    f"maxmemory {format_bytes(maxmemory)} is more than the host's "
                                    f"{format_bytes(system)} of RAM: the limit will never be reached before swapping",
                                    Fix.manual(f"CONFIG SET maxmemory {suggest_maxmemory(used, system)}", "CONFIG REWRITE"), {"maxmemory": maxmemory, "total_system_memory": system}))
    if oom:
        score = min(score, 0.3)
        findings.append(Finding("fail", "OOM", f"{oom:,} commands were refused with OOM errors since the stats were "
                                "last reset: the cache could not make room for writes", fix, {"oom_errors": oom}))
    summary += _evictions(evicted, window, findings)
    if oom is None and maxmemory:
        summary += "; OOM errors not counted (INFO errorstats needs Redis 6.2)"
    if config.get("denied"):
        metrics["config"] = config["denied"]
        summary += f" (read from INFO memory: {config['denied']})"
    return Outcome.scored(score, summary, metrics=metrics, findings=findings)


def _oom_errors(info: dict[str, Any]) -> int | None:
    """Commands refused with OOM since the stats were reset; None where Redis does not count them."""
    oom = info.get("errorstat_OOM", {}).get("count", 0) if isinstance(info.get("errorstat_OOM"), dict) else 0
    if "total_error_replies" not in info and not oom:
        return None  # INFO errorstats came with Redis 6.2: before it, OOM refusals are not counted anywhere
    return oom


def _unbounded(policy: str, used: int, fix: Fix, findings: list[Finding]) -> tuple[float, str]:
    """No maxmemory: (score, summary), with the finding."""
    score = 0.0 if policy == "noeviction" else 0.25
    why = ("and maxmemory-policy noeviction" if policy == "noeviction"
           else f"so maxmemory-policy {policy} never applies")
    findings.append(Finding("fail", "maxmemory",
                            f"no maxmemory {why}: Redis grows until the host runs out of memory "
                            f"({format_bytes(used)} used now)", fix,
                            {"maxmemory": 0, "maxmemory_policy": policy, "used_memory": used}))
    return score, f"no maxmemory, policy {policy}, {format_bytes(used)} used"


def _policy_score(policy: str, ratio: float, maxmemory: int, keys: int, expires: int, t: dict[str, Any],
                  findings: list[Finding]) -> float:
    """The score of a bounded cache's eviction policy, with a finding when it is unfit."""
    if policy == "noeviction":
        findings.append(Finding("fail", "maxmemory-policy",
                                f"noeviction: once the cache is full ({ratio:.0%} of {format_bytes(maxmemory)} now) "
                                "writes fail with OOM errors instead of evicting old entries",
                                _set_lru(), {"maxmemory_policy": policy, "used_ratio": round(ratio, 4)}))
        return 0.05 if ratio > t["max_used_ratio"] else 0.3
    if policy.startswith("volatile-"):
        share = expires / keys if keys else 1.0
        score = 1.0 if share >= t["volatile_ttl_share"] else min(0.85, 0.9 * share / t["volatile_ttl_share"])
        if ratio > t["max_used_ratio"]:
            score = min(score, 0.9 * share)
        if share < t["volatile_ttl_share"]:
            findings.append(Finding(severity(score), "maxmemory-policy",
                                    f"{policy} evicts only keys with a TTL, and {1 - share:.0%} of the {keys:,} keys "
                                    f"have none: when memory is full ({ratio:.0%} now) those cannot be evicted and "
                                    "writes fail with OOM errors",
                                    _set_lru(), {"maxmemory_policy": policy, "ttl_share": round(share, 4), "keys": keys}))
        return score
    if policy == "allkeys-random":
        findings.append(Finding("warn", "maxmemory-policy",
                                "allkeys-random evicts hot keys as readily as cold ones; allkeys-lru or allkeys-lfu "
                                "keep what is read often", _set_lru(), {"maxmemory_policy": policy}))
        return 0.7
    return 1.0


def _evictions(evicted: int, window: dict[str, Any] | None, findings: list[Finding]) -> str:
    """Keys evicted (an info finding): what it adds to the summary."""
    if not (evicted or (window and window["evicted_keys"])):
        return ""
    during = f", {window['evicted_keys']:,} in the {window['seconds']:.1f} s window" if window else ""
    findings.append(Finding("info", "evicted_keys",
                            f"{evicted:,} keys evicted since the stats were last reset{during}: normal for a full "
                            "cache; if the hit rate is low, maxmemory is too small for the working set", None,
                            {"evicted_keys": evicted}))
    return f", {evicted:,} evicted"
