"""`cache.levels`: L1 and L2 cache levels are hit."""

from __future__ import annotations

from typing import Any

from perfcheck.model import Finding, Fix
from perfcheck.registry import Outcome, check
from perfcheck.scoring import higher_is_better

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
    findings, weighted, traffic = [], 0.0, 0.0
    rates = {}
    for level in sorted(hits.keys() | misses.keys()):
        h, mi = hits.get(level, 0.0), misses.get(level, 0.0)
        if h + mi == 0:
            continue
        rate = h / (h + mi)
        rates[level] = round(rate, 4)
        weighted += higher_is_better(rate, target, floor) * (h + mi)
        traffic += h + mi
        if rate < target:
            findings.append(Finding("fail" if rate < floor else "warn", f"cache level {level}",
                                    f"{level} hit rate {rate:.0%} is under the {target:.0%} target ({h:.0f} hits, {mi:.0f} misses)",
                                    Fix.manual(f"size the {level} cache for the hot keys and align TTLs between levels"),
                                    {"hits": h, "misses": mi, "hit_rate": round(rate, 4)}))
    if not traffic:
        return Outcome.skip("the cache counters are all zero: no traffic to judge yet")
    summary = ", ".join(f"{lvl} {rate:.0%}" for lvl, rate in rates.items()) + " hit rate"
    return Outcome.scored(weighted / traffic, summary, metrics={"hit_rate": rates}, findings=findings)
