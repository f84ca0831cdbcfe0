"""Scores that mean something (after Lighthouse's scoring).

A measured value scores on a log-normal curve: at the target (`p10`) it scores 0.9, at
`median` 0.5, and far past the target it tends to 0. A category is the weighted mean of
its judged checks; `skip` and `manual` weigh nothing; an `error` is unknown and never
counts as 100. The overall score is the weighted mean of the audited categories.
"""

from __future__ import annotations

import math

from perfcheck.model import CategoryScore, CheckResult, Status

PASS_AT = 0.9
WARN_AT = 0.5
# The highest score a check may give when it has a finding of that severity: a check
# with a warning never passes, one with a failure is never only a warning.
BELOW_PASS = PASS_AT - 0.01
BELOW_WARN = WARN_AT - 0.01
_INVERSE_ERFC_ONE_FIFTH = 0.9061938024368232


def lognormal(value: float, p10: float, median: float) -> float:
    """Score a lower-is-better value: 0.9 at p10 (the target), 0.5 at median."""
    if value <= 0:
        return 1.0
    if median <= p10:
        raise ValueError("median must be greater than p10")
    standardized = math.log(value / median) * _INVERSE_ERFC_ONE_FIFTH / math.log(median / p10)
    score = math.erfc(standardized) / 2
    return max(0.0, min(1.0, score))


def higher_is_better(value: float, target: float, floor: float) -> float:
    """Score a ratio where more is better (a hit rate): 0.9 at target, 0.5 at floor.

    The shortfall from 1.0 is scored on the log-normal curve, so 80 % hits against an
    80 % target is 0.9 and 99 % is close to 1.
    """
    return lognormal(1.0 - value, 1.0 - target, 1.0 - floor)


def status_for(score: float) -> Status:
    if score >= PASS_AT:
        return Status.PASS
    if score >= WARN_AT:
        return Status.WARN
    return Status.FAIL


def score_categories(results: list[CheckResult], categories: list[tuple[str, str]]) -> list[CategoryScore]:
    """categories: (id, title) in display order; a category with no checks is left out."""
    scores = []
    for cat_id, title in categories:
        members = [r for r in results if r.category == cat_id]
        if not members:
            continue
        judged = [r for r in members if r.status.judged and r.score is not None and r.weight > 0]
        errors = sum(1 for r in members if r.status is Status.ERROR)
        score = None
        if judged:
            total = sum(r.weight for r in judged)
            score = round(100 * sum(r.score * r.weight for r in judged) / total)
        scores.append(CategoryScore(cat_id, title, score, len(judged), errors))
    return scores


def overall(categories: list[CategoryScore], weights: dict[str, float]) -> int | None:
    audited = [c for c in categories if c.score is not None and weights.get(c.id, 1.0) > 0]
    if not audited:
        return None
    total = sum(weights.get(c.id, 1.0) for c in audited)
    return round(sum(c.score * weights.get(c.id, 1.0) for c in audited) / total)
