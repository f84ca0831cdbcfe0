"""`cache.hit_rate`: The cache is hit."""

from __future__ import annotations

from perfcheck.checks.support.redis import severity
from perfcheck.model import Finding
from perfcheck.registry import Outcome, check
from perfcheck.scoring import higher_is_better


@check("cache.hit_rate", requires=["redis.window"])
def hit_rate(facts, t):
    w = facts["redis.window"]
    lookups = w["hits"] + w["misses"]
    lifetime = w["lifetime_hits"] + w["lifetime_misses"]
    window_rate = w["hits"] / lookups if lookups else None
    lifetime_rate = w["lifetime_hits"] / lifetime if lifetime else None
    seconds = w["seconds"]
    metrics = {"window_s": seconds, "window_lookups": lookups, "window_hit_rate": window_rate,
               "lifetime_lookups": lifetime, "lifetime_hit_rate": lifetime_rate,
               "own_lookups_excluded": w["own_hits"] + w["own_misses"]}
    lifetime_text = (f"{lifetime_rate:.0%} of {lifetime:,} lookups since the stats were last reset"
                     if lifetime_rate is not None else "no lookups since the stats were last reset")
    if lookups < t["min_lookups"]:
        # The lifetime counters include every earlier audit's own reads (Redis cannot tell
        # them apart), so on a quiet server they say little: report them, judge nothing.
        return Outcome.skip(f"no cache traffic to judge in the {seconds:.1f} s window ({lookups} lookups; raise "
                            f"redis.window_s or audit under load); lifetime: {lifetime_text}", metrics=metrics)
    rate = window_rate
    summary = f"{rate:.0%} of {lookups:,} lookups hit in the {seconds:.1f} s window (lifetime: {lifetime_text})"
    score = higher_is_better(rate, t["target"], t["floor"])
    findings = []
    if rate < t["target"]:
        findings.append(Finding(severity(score), "keyspace",
                                f"{rate:.0%} of {lookups:,} lookups hit in the {seconds:.1f} s window (target "
                                f"{t['target']:.0%}), {w['misses']:,} misses: cache what is read often, with keys "
                                "that repeat and TTLs long enough to be hit",
                                None, {"hit_rate": round(rate, 4), "hits": w["hits"], "misses": w["misses"],
                                       "window_s": seconds, "target": t["target"]}))
    return Outcome.scored(score, summary, metrics=metrics, findings=findings)
