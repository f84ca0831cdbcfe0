"""`cache.memory`: Memory is healthy."""

from __future__ import annotations

from typing import Any

from perfcheck.checks.support.redis import severity, suggest_maxmemory
from perfcheck.model import Finding, Fix
from perfcheck.registry import Outcome, check
from perfcheck.scoring import lognormal
from perfcheck.units import format_bytes


@check("cache.memory", requires=["redis.info", "redis.config"])
def memory(facts, t):
    info, config = facts["redis.info"], facts["redis.config"]
    used = int(info.get("used_memory", 0))
    rss = int(info.get("used_memory_rss", 0) or 0)
    ratio = info.get("mem_fragmentation_ratio")
    maxmemory = int(info.get("maxmemory", (config.get("values") or {}).get("maxmemory", 0)) or 0)
    policy = str(info.get("maxmemory_policy", (config.get("values") or {}).get("maxmemory-policy", "")))
    system = int(info.get("total_system_memory", 0) or 0)
    peak = int(info.get("used_memory_peak", 0) or 0)
    metrics = {"used_memory": used, "used_memory_rss": rss, "fragmentation_ratio": ratio, "maxmemory": maxmemory,
               "total_system_memory": system, "used_memory_peak": peak}
    findings = []
    scores = [1.0]
    notes = []
    judged_fragmentation = used >= t["min_used_bytes"] and isinstance(ratio, (int, float))
    metrics["fragmentation_judged"] = judged_fragmentation
    if not judged_fragmentation:
        notes.append(f"fragmentation not judged below {format_bytes(t['min_used_bytes'])} used")
    else:
        _fragmentation(ratio, used, rss, config, t, scores, findings)
    headroom_text = _headroom(used, rss, maxmemory, policy, system, t, metrics, scores, findings, notes)
    if judged_fragmentation and peak > 1.5 * used:
        findings.append(Finding("info", "used_memory_peak",
                                f"the peak ({format_bytes(peak)}) is far above today's use ({format_bytes(used)}): the "
                                "allocator may hold the difference as fragmentation", None,
                                {"used_memory_peak": peak, "used_memory": used}))
    score = min(scores)
    ratio_text = f"fragmentation {ratio:.2f}" if isinstance(ratio, (int, float)) else "fragmentation unknown"
    summary = f"{format_bytes(used)} used, {ratio_text}, {headroom_text}"
    if notes:
        summary += f" ({'; '.join(notes)})"
    return Outcome.scored(score, summary, metrics=metrics, findings=findings)


def _fragmentation(ratio: float, used: int, rss: int, config: dict[str, Any], t: dict[str, Any],
                   scores: list[float], findings: list[Finding]) -> None:
    """Resident memory far above the data (fragmentation), or below it (swapped out)."""
    if ratio > t["max_fragmentation"]:
        part = lognormal(ratio - 1, t["max_fragmentation"] - 1, (t["max_fragmentation"] - 1) * 3)
        scores.append(part)
        defrag = (config.get("values") or {}).get("activedefrag")
        fix = (Fix.manual("restart Redis in a quiet period (activedefrag is already on)")
               if defrag == "yes" else Fix.manual("CONFIG SET activedefrag yes", "CONFIG REWRITE"))
        findings.append(Finding(severity(part), "mem_fragmentation_ratio",
                                f"fragmentation {ratio:.2f}: {format_bytes(rss)} resident for {format_bytes(used)} of data "
                                f"(MEMORY DOCTOR flags over 1.4); the difference is memory the host cannot use", fix,
                                {"ratio": ratio, "used_memory": used, "used_memory_rss": rss}))
    elif ratio < 1.0:
        scores.append(0.5)
        findings.append(Finding("warn", "mem_fragmentation_ratio",
                                f"fragmentation {ratio:.2f}: Redis holds {format_bytes(used)} but only {format_bytes(rss)} "
                                "is resident, so part of it is probably swapped out (every access to it is a disk read)",
                                None, {"ratio": ratio, "used_memory": used, "used_memory_rss": rss}))


def _headroom(used: int, rss: int, maxmemory: int, policy: str, system: int, t: dict[str, Any], metrics: dict[str, Any],
              scores: list[float], findings: list[Finding], notes: list[str]) -> str:
    """Room left under maxmemory, or on the host without one: its words for the summary."""
    if maxmemory:
        headroom = 1 - used / maxmemory
        metrics["headroom"] = headroom
        if headroom < t["min_headroom"] and not policy.startswith("allkeys-"):
            part = 0.1 if policy == "noeviction" else 0.4
            scores.append(part)
            findings.append(Finding(severity(part), "maxmemory",
                                    f"{headroom:.0%} headroom: {format_bytes(used)} of {format_bytes(maxmemory)} used with "
                                    f"policy {policy}, so writes will soon fail with OOM errors",
                                    Fix.manual(f"CONFIG SET maxmemory {suggest_maxmemory(used, system)}", "CONFIG REWRITE"), {"headroom": round(headroom, 4), "maxmemory": maxmemory}))
        elif headroom < t["min_headroom"]:
            notes.append(f"full at {1 - headroom:.0%} of maxmemory and evicting, as a {policy} cache should")
        return f"{headroom:.0%} headroom under maxmemory {format_bytes(maxmemory)}"
    if system:
        headroom = 1 - max(rss, used) / system
        metrics["headroom"] = headroom
        taken = 1 - headroom
        share = "under 1%" if taken < 0.01 else f"{taken:.0%}"
        headroom_text = f"no maxmemory; Redis takes {format_bytes(max(rss, used))} of the host's {format_bytes(system)} ({share})"
        if headroom < t["min_headroom"]:
            scores.append(0.1)
            findings.append(Finding("fail", "total_system_memory",
                                    f"Redis uses {format_bytes(max(rss, used))} of the host's {format_bytes(system)} with no "
                                    "maxmemory: the kernel will kill it or swap",
                                    Fix.manual(f"CONFIG SET maxmemory {suggest_maxmemory(used, system)}", "CONFIG REWRITE"), {"headroom": round(headroom, 4)}))
        return headroom_text
    return "no maxmemory and the host's RAM unknown"
