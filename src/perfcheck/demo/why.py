"""Why a score of the demo moved the wrong way after `--fix`: the indexes make the API
faster, and some figures measure traffic rather than the thing fixed. Each explanation is
read from the two reports' figures, so it says what happened in this run."""

from __future__ import annotations

from typing import Callable

from perfcheck.model import CheckResult, Report

MOVED = 0.01  # a score that fell by less than a point did not move


def _points(score: float | None) -> str:
    return "?" if score is None else str(round(score * 100))


def _window(result: CheckResult) -> tuple[int, int]:
    """(hits, misses) in cache.hit_rate's window."""
    lookups = int(result.metrics.get("window_lookups") or 0)
    rate = result.metrics.get("window_hit_rate") or 0.0
    hits = round(lookups * rate)
    return hits, lookups - hits


def _hit_rate(before: CheckResult, after: CheckResult) -> str:
    (hits_b, misses_b), (hits_a, misses_a) = _window(before), _window(after)
    counts = (f"the window saw {hits_b + misses_b} → {hits_a + misses_a} lookups "
              f"({hits_b} → {hits_a} hits, {misses_b} → {misses_a} misses)")
    if hits_a + misses_a > hits_b + misses_b and misses_a - misses_b > hits_a - hits_b:
        return (f"{counts}: the listeners running beside the audit (one request at a time) were answered faster, so "
                "more of their requests fell in the same window; the extra lookups were mostly first reads of "
                "playlists picked at random (misses), while repeated user profiles are answered from the app's "
                "in-process L1 cache and never reach Redis. The cache is no worse: it saw a different mix")
    return f"{counts}"


def _levels(before: CheckResult, after: CheckResult) -> str:
    rates_b, rates_a = before.metrics.get("hit_rate") or {}, after.metrics.get("hit_rate") or {}
    moved = ", ".join(f"{level} {rates_b[level]:.0%} → {rates_a[level]:.0%}" for level in sorted(rates_b)
                      if level in rates_a and isinstance(rates_b[level], float) and isinstance(rates_a[level], float))
    return (f"{moved or after.summary}: the same change of traffic as cache.hit_rate (more random playlist reads "
            "reach Redis; repeated profiles stay in L1)")


EXPLAIN: dict[str, Callable[[CheckResult, CheckResult], str]] = {"cache.hit_rate": _hit_rate, "cache.levels": _levels}


def worse(before: Report, after: Report) -> list[str]:
    """One line for each category and check whose score fell, with the reason."""
    lines = []
    fell: dict[str, list[str]] = {}
    for result in before.checks:
        later = next((r for r in after.checks if r.id == result.id), None)
        if later is None or result.score is None or later.score is None or later.score > result.score - MOVED:
            continue
        fell.setdefault(result.category, []).append(result.id)
        reason = EXPLAIN.get(result.id)
        why = reason(result, later) if reason else f"{result.summary} → {later.summary}"
        lines.append(f"{result.id} {_points(result.score)} → {_points(later.score)}: {why}")
    categories = []
    for cat in before.categories:
        later_cat = next((c for c in after.categories if c.id == cat.id), None)
        if later_cat and cat.score is not None and later_cat.score is not None and later_cat.score < cat.score:
            ids = ", ".join(fell.get(cat.id, [])) or "checks that did not run again"
            categories.append(f"{cat.title} {cat.score} → {later_cat.score}: because of {ids} (below)")
    return categories + lines
