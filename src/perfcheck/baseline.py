"""Compare a run with a saved baseline report: what regressed, what improved.

A regression (fails the gate) is
  - a check that got worse: pass → warn/fail or warn → fail, by more than a small score
    change (a check sitting on a threshold must not flip CI on noise), or a check that
    was judged before and now errors;
  - a new warn/fail finding, or a finding whose severity rose (stable key: check id + object);
  - a category or the overall score falling by more than `score_drop` points, compared
    only when the same checks were judged in both runs;
  - a latency percentile (`p95_ms`, `ttfb_p99_ms`, ... at the top of a check's metrics or
    per endpoint under `metrics["endpoints"]`) worse by more than
    max(`latency_relative` × baseline, `latency_ms`).
Improvements are the same changes the other way; they are reported and never fail.
Notes are what can't be compared (a check not run in one of the two).
Muted checks and findings (perfcheck.mutes) never count as regressions; they are listed
as muted instead.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Iterator

from .model import CheckResult, Report, Status
from .mutes import accepted

_RANK = {Status.PASS: 0, Status.WARN: 1, Status.FAIL: 2}
_SEVERITY = {"info": 0, "warn": 1, "fail": 2}
_PERCENTILE = re.compile(r"^(?:[a-z]+_)?p\d+(?:\.\d+)?_ms$")  # p95_ms, ttfb_p99_ms


@dataclass(frozen=True)
class Tolerances:
    score_drop: float  # points (0-100) a category or the overall score may fall
    check_score_drop: float  # a status flip with a smaller score change (0-1) is noise
    latency_relative: float  # a percentile may be this much worse (0.3 = 30 %) ...
    latency_ms: float  # ... or this many ms worse, whichever is larger
    error_is_regression: bool  # a check judged in the baseline that now errors

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> Tolerances:
        from .config import DEFAULTS

        merged = {**DEFAULTS["baseline"], **section}
        return cls(**{f.name: merged[f.name] for f in fields(cls)})

    @classmethod
    def default(cls) -> Tolerances:
        return cls.from_config({})

    def latency_band(self, before: float) -> float:
        return max(self.latency_relative * before, self.latency_ms)


@dataclass
class Change:
    kind: str  # status | error | finding | severity | score | latency | not_run | new_check | not_comparable
    check: str  # a check id, a category id, or "overall"
    object: str  # the finding's object or the percentile; "" for the whole check
    message: str  # one line a person can act on
    before: Any = None
    after: Any = None
    muted: str | None = None

    @property
    def key(self) -> str:
        return f"{self.check}:{self.object}" if self.object else self.check


@dataclass
class Comparison:
    regressions: list[Change] = field(default_factory=list)
    improvements: list[Change] = field(default_factory=list)
    notes: list[Change] = field(default_factory=list)
    muted: list[Change] = field(default_factory=list)  # regressions the mute list accepts
    baseline_created_at: str = ""
    baseline_score: int | None = None
    score: int | None = None

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)

    def to_dict(self) -> dict[str, Any]:
        return {
            "regressed": self.regressed,
            "baseline_created_at": self.baseline_created_at,
            "baseline_score": self.baseline_score,
            "score": self.score,
            **{name: [asdict(c) for c in getattr(self, name)] for name in ("regressions", "improvements", "notes", "muted")},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Comparison:
        lists = {name: [Change(**c) for c in data.get(name) or []] for name in ("regressions", "improvements", "notes", "muted")}
        return cls(**lists, baseline_created_at=data.get("baseline_created_at", ""),
                   baseline_score=data.get("baseline_score"), score=data.get("score"))


def _pct(before: float, after: float) -> str:
    return f"{(after - before) / before * 100:+.0f} %" if before else "new"


def _score(value: float | None) -> str:
    return "?" if value is None else str(round(value * 100))


def percentiles(metrics: dict[str, Any]) -> Iterator[tuple[str, str, float]]:
    """(endpoint or "", percentile name, ms) for the latency percentiles in a check's metrics."""
    def numeric(value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool)

    for name, value in metrics.items():
        if _PERCENTILE.match(name) and numeric(value):
            yield "", name, float(value)
    endpoints = metrics.get("endpoints")
    if isinstance(endpoints, dict):
        for endpoint, data in endpoints.items():
            if isinstance(data, dict):
                for name, value in data.items():
                    if _PERCENTILE.match(name) and numeric(value):
                        yield str(endpoint), name, float(value)


class _Collector:
    """Sorts each change into regressions / improvements / notes, honouring mutes."""

    def __init__(self) -> None:
        self.out = Comparison()

    def regression(self, change: Change, muted: str | None = None) -> None:
        if muted:
            change.muted = muted
            self.out.muted.append(change)
        else:
            self.out.regressions.append(change)

    def improvement(self, change: Change) -> None:
        self.out.improvements.append(change)

    def note(self, change: Change) -> None:
        self.out.notes.append(change)


def _compare_status(old: CheckResult, new: CheckResult, tol: Tolerances, sink: _Collector, cause_muted: str | None) -> None:
    """`cause_muted`: the check's new or worse findings are all muted, so its fall is accepted too."""
    if new.status is Status.ERROR and old.status.judged:
        change = Change("error", new.id, "", f"{new.id} was {old.status.value} and can no longer be judged: {new.summary}",
                        old.status.value, new.status.value)
        if tol.error_is_regression:
            sink.regression(change, new.muted)
        else:
            sink.note(change)
        return
    if not (old.status.judged and new.status.judged):
        if old.status.judged and not new.status.judged:
            sink.note(Change("not_comparable", new.id, "", f"{new.id} was {old.status.value}, now {new.status.value}: {new.summary}",
                             old.status.value, new.status.value))
        elif new.status.judged and old.status is Status.ERROR:
            sink.note(Change("not_comparable", new.id, "", f"{new.id} errored in the baseline, now {new.status.value}",
                             old.status.value, new.status.value))
        return
    worse = _RANK[new.status] - _RANK[old.status]
    if worse == 0:
        return
    drop = (old.score - new.score) if old.score is not None and new.score is not None else None
    if drop is not None and abs(drop) <= tol.check_score_drop:
        sink.note(Change("status", new.id, "", f"{new.id} went {old.status.value} → {new.status.value} on a score change of "
                         f"{_score(old.score)} → {_score(new.score)}, within the noise tolerance", old.status.value, new.status.value))
        return
    scores = f" (score {_score(old.score)} → {_score(new.score)})"
    if worse > 0:
        sink.regression(Change("status", new.id, "", f"{new.id} got worse: {old.status.value} → {new.status.value}{scores}: {new.summary}",
                               old.status.value, new.status.value), accepted(new) or cause_muted)
    else:
        sink.improvement(Change("status", new.id, "", f"{new.id} improved: {old.status.value} → {new.status.value}{scores}",
                                old.status.value, new.status.value))


def _compare_findings(old: CheckResult, new: CheckResult, sink: _Collector) -> None:
    if not (old.status.judged and new.status.judged):
        return
    def by_key(result: CheckResult) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for finding in result.findings:  # one key may repeat: keep its worst severity
            current = found.get(finding.object)
            if current is None or _SEVERITY.get(finding.severity, 0) > _SEVERITY.get(current.severity, 0):
                found[finding.object] = finding
        return found

    before, after = by_key(old), by_key(new)
    for obj, finding in after.items():
        rank = _SEVERITY.get(finding.severity, 0)
        if rank == 0:
            continue
        earlier = before.get(obj)
        muted = finding.muted or new.muted
        if earlier is None:
            sink.regression(Change("finding", new.id, obj, f"new finding in {new.id}: {obj}: {finding.message}",
                                   None, finding.severity), muted)
        elif rank > _SEVERITY.get(earlier.severity, 0):
            sink.regression(Change("severity", new.id, obj, f"{new.id}: {obj} is now {finding.severity} (was {earlier.severity}): {finding.message}",
                                   earlier.severity, finding.severity), muted)
    for obj, finding in before.items():
        if _SEVERITY.get(finding.severity, 0) == 0:
            continue
        later = after.get(obj)
        if later is None or _SEVERITY.get(later.severity, 0) < _SEVERITY.get(finding.severity, 0):
            what = "fixed" if later is None or later.severity == "info" else f"now {later.severity} (was {finding.severity})"
            sink.improvement(Change("finding", new.id, obj, f"{new.id}: {obj} {what}", finding.severity,
                                    later.severity if later else None))


def _compare_latency(old: CheckResult, new: CheckResult, tol: Tolerances, sink: _Collector) -> None:
    before = {(endpoint, name): value for endpoint, name, value in percentiles(old.metrics)}
    for endpoint, name, after in percentiles(new.metrics):
        if (endpoint, name) not in before:
            continue
        was = before[(endpoint, name)]
        band = tol.latency_band(was)
        label = f"{endpoint} {name}" if endpoint else name
        where = f"{name} of {endpoint}" if endpoint else name
        detail = f"{was:.1f} → {after:.1f} ms ({_pct(was, after)}; noise band {band:.1f} ms)"
        if after - was > band:
            sink.regression(Change("latency", new.id, label, f"{new.id}: {where} rose {detail}", was, after), new.muted)
        elif was - after > band:
            sink.improvement(Change("latency", new.id, label, f"{new.id}: {where} fell {detail}", was, after))


def _judged(report: Report, category: str | None) -> set[str]:
    return {r.id for r in report.checks
            if r.status.judged and r.weight > 0 and (category is None or r.category == category)}


def _compare_scores(old: Report, new: Report, tol: Tolerances, sink: _Collector) -> None:
    """Scores are compared only when the same checks were judged: a score over other checks means something else."""
    old_cats = {c.id: c for c in old.categories}
    for cat in new.categories:
        was = old_cats.get(cat.id)
        if was is None or was.score is None or cat.score is None:
            continue
        if _judged(old, cat.id) != _judged(new, cat.id):
            sink.note(Change("not_comparable", cat.id, "", f"{cat.title} score not compared: a different set of checks was judged "
                             f"({was.score} → {cat.score})", was.score, cat.score))
            continue
        _score_change(cat.id, cat.title, was.score, cat.score, tol, sink)
    if old.score is not None and new.score is not None:
        if _judged(old, None) == _judged(new, None):
            _score_change("overall", "overall", old.score, new.score, tol, sink)
        else:
            sink.note(Change("not_comparable", "overall", "", f"overall score not compared: the runs judged different checks "
                             f"({old.score} → {new.score})", old.score, new.score))


def _score_change(subject: str, title: str, was: int, now: int, tol: Tolerances, sink: _Collector) -> None:
    if was - now > tol.score_drop:
        sink.regression(Change("score", subject, "", f"{title} score fell {was} → {now} ({now - was:+d}; tolerance {tol.score_drop:g})", was, now))
    elif now - was > tol.score_drop:
        sink.improvement(Change("score", subject, "", f"{title} score rose {was} → {now} ({now - was:+d})", was, now))


def compare(old: Report, new: Report, tolerances: Tolerances | None = None) -> Comparison:
    """What changed from `old` (the baseline) to `new`. Mutes marked in `new` are honoured."""
    tol = tolerances or Tolerances.default()
    sink = _Collector()
    sink.out.baseline_created_at, sink.out.baseline_score, sink.out.score = old.created_at, old.score, new.score
    old_checks = {r.id: r for r in old.checks}
    new_ids = {r.id for r in new.checks}
    for result in new.checks:
        was = old_checks.get(result.id)
        if was is None:
            if result.status.judged:
                sink.note(Change("new_check", result.id, "", f"{result.id} is not in the baseline ({result.status.value}); "
                                 "--update-baseline to gate on it", None, result.status.value))
            continue
        findings = _Collector()
        _compare_findings(was, result, findings)
        causes = findings.out.regressions + findings.out.muted
        cause_muted = "; ".join(sorted({c.muted for c in causes if c.muted})) if causes and not findings.out.regressions else None
        _compare_status(was, result, tol, sink, cause_muted)
        for attr in ("regressions", "improvements", "notes", "muted"):
            getattr(sink.out, attr).extend(getattr(findings.out, attr))
        _compare_latency(was, result, tol, sink)
    for was in old.checks:
        if was.id not in new_ids and was.status.judged:
            sink.note(Change("not_run", was.id, "", f"{was.id} was {was.status.value} in the baseline and did not run this time",
                             was.status.value, None))
    _compare_scores(old, new, tol, sink)
    return sink.out
