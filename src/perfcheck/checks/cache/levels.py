"""`cache.levels`: L1 and L2 cache levels are hit."""

from __future__ import annotations

from typing import Any

from perfcheck.model import Finding, Fix
from perfcheck.registry import Outcome, check
from perfcheck.scoring import BELOW_PASS, higher_is_better

LEVEL_LABELS = ("cache_level", "level", "layer", "tier")


def _by_level(families: list[dict[str, Any]], base: str) -> dict[str, float]:
    """Sum of the `<base>_total` counter per cache level label."""
    out: dict[str, float] = {}
    for family in families:
        if family["name"] not in (base, f"{base}_total"):
            continue
        for s in family["samples"]:
            if s["name"] not in (base, f"{base}_total"):
                continue  # _created and friends
            level = next((s["labels"][k] for k in LEVEL_LABELS if k in s["labels"]), None)
            if level is not None:
                out[level] = out.get(level, 0.0) + float(s["value"])
    return out


@check("cache.levels", requires=["http.metrics"])
def cache_levels(facts, t):
    m = facts["http.metrics"]
    if m.get("status") != 200 or m.get("families") is None:
        return Outcome.skip(f"no /metrics to read cache levels from (GET {m['path']}: {m.get('status') or m.get('error')})")
    hits = _by_level(m["families"], "cache_hits")
    misses = _by_level(m["families"], "cache_misses")
    if not hits:
        return Outcome.skip("the app's /metrics exposes no cache_hits_total{cache_level=…}")
    if not misses:
        return Outcome.skip("cache_hits_total is exposed but cache_misses_total is not, so no hit rate can be computed")
    target, floor = float(t["target"]), float(t["floor"])
    levels = {lvl: (hits.get(lvl, 0.0), misses.get(lvl, 0.0)) for lvl in sorted(hits.keys() | misses.keys())}
    levels = {lvl: hm for lvl, hm in levels.items() if hm[0] + hm[1] > 0}
    if not levels:
        return Outcome.skip("the cache counters are all zero: no traffic to judge yet")
    rates = {lvl: round(h / (h + mi), 4) for lvl, (h, mi) in levels.items()}
    overall, lookups, how = overall_hit_rate(levels)
    score = higher_is_better(overall, target, floor)
    shown = ", ".join(f"{lvl} {rate:.0%}" for lvl, rate in rates.items())
    summary = f"overall hit rate {overall:.0%} of {lookups:,.0f} lookups ({how}; by level: {shown})"
    metrics = {"hit_rate": rates, "overall_hit_rate": round(overall, 4), "lookups": lookups, "combined": how}
    findings = []
    if overall < target:
        findings.append(Finding("fail" if overall < floor else "warn", "cache levels",
                                f"overall hit rate {overall:.0%} is under the {target:.0%} target (by level: {shown})",
                                Fix.manual("size the L1 for the hot keys, align TTLs between levels, and warm the L2"),
                                {"overall_hit_rate": round(overall, 4), "hit_rate": rates, "lookups": lookups}))
    return Outcome.scored(min(score, BELOW_PASS) if findings else score, summary, metrics=metrics, findings=findings)


def overall_hit_rate(levels: dict[str, tuple[float, float]]) -> tuple[float, float, str]:
    """The share of lookups any level served. Chained levels (L2 asked on L1's misses): every lookup
    reaches the busiest level first, so hits of all levels over its lookups; levels whose hits add up
    to more than that are separate caches, weighed by their traffic. (rate, lookups, how)"""
    total_hits = sum(h for h, _ in levels.values())
    first = max(h + mi for h, mi in levels.values())
    if len(levels) > 1 and total_hits <= first:
        return total_hits / first, first, "levels chained"
    lookups = sum(h + mi for h, mi in levels.values())
    return total_hits / lookups, lookups, "one level" if len(levels) == 1 else "levels apart"
