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
Latency is noisy, so its band is the arbiter: a finding that reports percentiles
(api.latency's "over budget"), a status flip and a score drop that follow only from
percentiles within the band are noted, not failed. A re-run of an unchanged system stays
green even with an endpoint sitting on its budget.
Improvements are the same changes the other way; they are reported and never fail.
Notes are what can't be compared (a check not run in one of the two) or was judged noise.
Muted checks and findings (perfcheck.gate.mutes) never count as regressions; they are listed
as muted instead.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Iterator

from perfcheck import checklist
from perfcheck.config import DEFAULTS, ConfigError, read_text
from perfcheck.model import SCHEMA, CheckResult, Finding, Report, Status
from perfcheck.gate.mutes import accepted
from perfcheck.scoring import overall, score_categories

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
        merged = {**DEFAULTS["baseline"], **section}
        return cls(**{f.name: merged[f.name] for f in fields(cls)})

    @classmethod
    def default(cls) -> Tolerances:
        return cls.from_config({})

    def latency_band(self, before: float) -> float:
        """How much higher than `before` a duration may rise and still be noise."""
        return max(self.latency_relative * before, self.latency_ms)

    def latency_fell(self, before: float, after: float) -> bool:
        """The same band the other way, as a ratio: twice as fast is the mirror of twice as slow."""
        return before > after * (1 + self.latency_relative) and before - after > self.latency_ms


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

    @property
    def short(self) -> str:
        """A few words for a one-line summary (the gate's reason on stderr)."""
        return {
            "status": f"{self.check} {self.before} → {self.after}",
            "error": f"{self.check} now errors",
            "finding": f"new finding {self.key}",
            "severity": f"{self.key} now {self.after}",
            "score": f"{self.check} score {self.before} → {self.after}",
            "latency": f"{self.key} {self.before} → {self.after} ms",
        }.get(self.kind, self.message)


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
    return f"{(after - before) / before * 100:+.0f}%" if before else "new"  # "5%", as every figure in the report


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


@dataclass
class _Latency:
    """What the latency comparison of one check found, to judge its findings and status by."""

    measured: set[str] = field(default_factory=set)  # endpoints ("" = the check) measured in both runs
    regressed: set[str] = field(default_factory=set)  # endpoints with a percentile beyond the band


def _compare_latency(old: CheckResult, new: CheckResult, tol: Tolerances, sink: _Collector) -> _Latency:
    seen = _Latency()
    before = {(endpoint, name): value for endpoint, name, value in percentiles(old.metrics)}
    for endpoint, name, after in percentiles(new.metrics):
        if (endpoint, name) not in before:
            continue
        seen.measured.add(endpoint)
        was = before[(endpoint, name)]
        band = tol.latency_band(was)
        label = f"{endpoint} {name}" if endpoint else name
        where = f"{name} of {endpoint}" if endpoint else name
        detail = f"{was:.1f} → {after:.1f} ms ({_pct(was, after)}; noise band {band:.1f} ms)"
        if after - was > band:
            seen.regressed.add(endpoint)
            sink.regression(Change("latency", new.id, label, f"{new.id}: {where} rose {detail}", was, after), new.muted)
        elif tol.latency_fell(was, after):
            sink.improvement(Change("latency", new.id, label, f"{new.id}: {where} fell {detail}", was, after))
    return seen


def _about_latency(finding: Finding) -> bool:
    """A finding that reports percentiles (api.latency's "over budget"): the noise band judges it."""
    return any(_PERCENTILE.match(str(key)) for key in finding.evidence)


def _timings(finding: Finding) -> dict[str, float]:
    """The measured durations in a finding's evidence (`mean_ms`, `p95_ms`; not its targets)."""
    return {key: float(value) for key, value in finding.evidence.items()
            if str(key).endswith("_ms") and not str(key).startswith("target")
            and isinstance(value, (int, float)) and not isinstance(value, bool)}


def _timing_noise(earlier: Finding, later: Finding, tol: Tolerances) -> bool:
    """A finding whose severity rose only because durations it measures moved within the band
    (db.slow_queries' mean time crossing a severity line on a busy machine)."""
    before, after = _timings(earlier), _timings(later)
    shared = before.keys() & after.keys()
    return bool(shared) and all(after[k] - before[k] <= tol.latency_band(before[k]) for k in shared)


def _near_target(old: CheckResult, obj: str) -> Finding | None:
    """The baseline's times of an object that sat just under its check's target (the check's
    `near_target` metric, db.slow_queries'), as a finding to weigh a new one against: a mean
    of 19.9 ms that is 20.1 ms in the re-run is noise; a statement new at 40 ms is not."""
    near = old.metrics.get("near_target")
    times = near.get(obj) if isinstance(near, dict) else None
    return Finding("info", obj, "", None, times) if isinstance(times, dict) else None


def _compare_findings(old: CheckResult, new: CheckResult, latency: _Latency, tol: Tolerances, sink: _Collector) -> None:
    if not (old.status.judged and new.status.judged):
        return

    def by_key(result: CheckResult) -> dict[str, Finding]:
        found: dict[str, Finding] = {}
        for finding in result.findings:  # one key may repeat: keep its worst severity
            current = found.get(finding.object)
            if current is None or _SEVERITY.get(finding.severity, 0) > _SEVERITY.get(current.severity, 0):
                found[finding.object] = finding
        return found

    before, after = by_key(old), by_key(new)
    for obj, finding in after.items():
        rank = _SEVERITY.get(finding.severity, 0)
        earlier = before.get(obj)
        if rank == 0 or (earlier is not None and rank <= _SEVERITY.get(earlier.severity, 0)):
            continue
        if earlier is None:
            change = Change("finding", new.id, obj, f"new finding in {new.id}: {obj}: {finding.message}", None, finding.severity)
        else:
            change = Change("severity", new.id, obj, f"{new.id}: {obj} is now {finding.severity} (was {earlier.severity}): "
                            f"{finding.message}", earlier.severity, finding.severity)
        measured = obj if obj in latency.measured else ""  # a check with top-level percentiles (cache.latency)
        if _about_latency(finding) and measured in latency.measured and measured not in latency.regressed:
            change.message += " (its percentiles moved within the noise band)"
            sink.note(change)
        elif earlier is not None and _timing_noise(earlier, finding, tol):
            change.message += " (the times it measures moved within the noise band)"
            sink.note(change)
        elif earlier is None and (under := _near_target(old, obj)) is not None and _timing_noise(under, finding, tol):
            change.message += " (just under the target in the baseline; its times moved within the noise band)"
            sink.note(change)
        else:
            sink.regression(change, finding.muted or new.muted)
    for obj, finding in before.items():
        if _SEVERITY.get(finding.severity, 0) == 0:
            continue
        later = after.get(obj)
        if later is None or _SEVERITY.get(later.severity, 0) < _SEVERITY.get(finding.severity, 0):
            what = "fixed" if later is None or later.severity == "info" else f"now {later.severity} (was {finding.severity})"
            sink.improvement(Change("finding", new.id, obj, f"{new.id}: {obj} {what}", finding.severity,
                                    later.severity if later else None))


def _compare_status(old: CheckResult, new: CheckResult, tol: Tolerances, sink: _Collector,
                    findings: Comparison, latency: _Latency) -> bool:
    """Sort a status change; True when the check got worse on noise alone (its score then
    counts as unchanged in the category and overall scores)."""
    if new.status is Status.ERROR and old.status.judged:
        change = Change("error", new.id, "", f"{new.id} was {old.status.value} and can no longer be judged: {new.summary}",
                        old.status.value, new.status.value)
        if tol.error_is_regression:
            sink.regression(change, new.muted)
        else:
            sink.note(change)
        return False
    if not (old.status.judged and new.status.judged):
        if old.status.judged:
            sink.note(Change("not_comparable", new.id, "", f"{new.id} was {old.status.value}, now {new.status.value}: {new.summary}",
                             old.status.value, new.status.value))
        elif new.status.judged and old.status is Status.ERROR:
            sink.note(Change("not_comparable", new.id, "", f"{new.id} errored in the baseline, now {new.status.value}",
                             old.status.value, new.status.value))
        return False
    worse = _RANK[new.status] - _RANK[old.status]
    scores = f"{_score(old.score)} → {_score(new.score)}"
    drop = (old.score - new.score) if old.score is not None and new.score is not None else None
    # Noise: nothing got worse beyond the bands, and something timed was there to move.
    timed = bool(latency.measured) or any("noise band" in c.message for c in findings.notes)
    noise = timed and not latency.regressed and not findings.regressions and not findings.muted
    if worse > 0 and (noise or (drop is not None and drop <= tol.check_score_drop)):
        why = "the times it measures moved within the noise band" if noise else "within the score tolerance"
        sink.note(Change("status", new.id, "", f"{new.id} went {old.status.value} → {new.status.value} (score {scores}): {why}",
                         old.status.value, new.status.value))
        return True
    if worse > 0:
        causes = findings.muted if findings.muted and not findings.regressions else []
        cause_muted = "; ".join(sorted({c.muted for c in causes if c.muted})) or None
        sink.regression(Change("status", new.id, "", f"{new.id} got worse: {old.status.value} → {new.status.value} (score {scores}): "
                               f"{new.summary}", old.status.value, new.status.value), accepted(new) or cause_muted)
    elif worse < 0 and not (drop is not None and -drop <= tol.check_score_drop):
        sink.improvement(Change("status", new.id, "", f"{new.id} improved: {old.status.value} → {new.status.value} (score {scores})",
                                old.status.value, new.status.value))
    return noise and drop is not None and drop > 0


def _judged(checks: list[CheckResult], category: str | None) -> set[str]:
    return {r.id for r in checks if r.status.judged and r.weight > 0 and (category is None or r.category == category)}


def _compare_scores(old: Report, new: Report, noisy: set[str], tol: Tolerances, sink: _Collector) -> None:
    """Scores are compared only when the same checks were judged (a score over other checks
    means something else), and a check that fell on latency noise alone counts as unchanged."""
    old_scores = {r.id: r.score for r in old.checks}
    discounted = [replace(r, score=old_scores[r.id]) if r.id in noisy else r for r in new.checks]
    order = [(c.id, c.title) for c in new.categories]
    before = {c.id: c.score for c in score_categories(old.checks, order)}
    after = {c.id: c.score for c in score_categories(discounted, order)}
    stored = {c.id: c.score for c in old.categories}
    for cat in new.categories:
        was = stored.get(cat.id)
        if was is None or cat.score is None:
            continue
        if _judged(old.checks, cat.id) != _judged(new.checks, cat.id):
            sink.note(Change("not_comparable", cat.id, "", f"{cat.title} score not compared: a different set of checks was judged "
                             f"({was} → {cat.score})", was, cat.score))
            continue
        _score_change(cat.id, cat.title, was, cat.score, (before.get(cat.id), after.get(cat.id)), tol, sink)
    if old.score is None or new.score is None:
        return
    if _judged(old.checks, None) != _judged(new.checks, None):
        sink.note(Change("not_comparable", "overall", "", f"overall score not compared: the runs judged different checks "
                         f"({old.score} → {new.score})", old.score, new.score))
        return
    weights = {c.id: c.weight for c in checklist.categories()}
    recomputed = (overall(score_categories(old.checks, order), weights), overall(score_categories(discounted, order), weights))
    _score_change("overall", "overall", old.score, new.score, recomputed, tol, sink)


def _score_change(subject: str, title: str, was: int, now: int, recomputed: tuple[int | None, int | None],
                  tol: Tolerances, sink: _Collector) -> None:
    """`was`/`now` as the reports show them; `recomputed` the same scores with latency noise
    discounted, which decides."""
    r_was, r_now = recomputed
    fell = was - now > tol.score_drop and (r_was is None or r_now is None or r_was - r_now > tol.score_drop)
    if fell:
        sink.regression(Change("score", subject, "", f"{title} score fell {was} → {now} ({now - was:+d}; tolerance {tol.score_drop:g})", was, now))
    elif was - now > tol.score_drop:
        sink.note(Change("score", subject, "", f"{title} score fell {was} → {now}, within the tolerance once latency noise is discounted",
                         was, now))
    elif now - was > tol.score_drop:
        sink.improvement(Change("score", subject, "", f"{title} score rose {was} → {now} ({now - was:+d})", was, now))


def compare(old: Report, new: Report, tolerances: Tolerances | None = None) -> Comparison:
    """What changed from `old` (the baseline) to `new`. Mutes marked in `new` are honoured."""
    tol = tolerances or Tolerances.default()
    sink = _Collector()
    sink.out.baseline_created_at, sink.out.baseline_score, sink.out.score = old.created_at, old.score, new.score
    old_checks = {r.id: r for r in old.checks}
    new_ids = {r.id for r in new.checks}
    noisy: set[str] = set()  # checks that got worse on latency noise alone
    for result in new.checks:
        was = old_checks.get(result.id)
        if was is None:
            if result.status.judged:
                sink.note(Change("new_check", result.id, "", f"{result.id} is not in the baseline ({result.status.value}); "
                                 "--update-baseline to gate on it", None, result.status.value))
            continue
        latency, findings = _Collector(), _Collector()
        seen = _compare_latency(was, result, tol, latency)
        _compare_findings(was, result, seen, tol, findings)
        if _compare_status(was, result, tol, sink, findings.out, seen):
            noisy.add(result.id)
        for part in (findings.out, latency.out):  # status first, then findings, then percentiles
            for attr in ("regressions", "improvements", "notes", "muted"):
                getattr(sink.out, attr).extend(getattr(part, attr))
    for was in old.checks:
        if was.id not in new_ids and was.status.judged:
            sink.note(Change("not_run", was.id, "", f"{was.id} was {was.status.value} in the baseline and did not run this time",
                             was.status.value, None))
    _compare_scores(old, new, noisy, tol, sink)
    return sink.out


# --- reading a saved report (--baseline, perfcheck compare) -----------------------------------
# A report of a big catalog is a few megabytes; the bounds stop /dev/zero or a wrong file.
MAX_REPORT_BYTES = 256 * 1024 * 1024
MAX_REPORT_DEPTH = 64
_NUMBER = (int, float)
_STATUSES = {s.value for s in Status}


def read_report(path: Path, label: str = "") -> Report:
    """A saved JSON report, or a ConfigError (one line) that says what is wrong with the file."""
    name = f"{label} {path}" if label else str(path)
    try:
        text = read_text(path, MAX_REPORT_BYTES)
    except IsADirectoryError:
        raise ConfigError(f"{name}: is a directory, not a JSON report") from None
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{name}: not JSON: {exc.msg} at line {exc.lineno}") from None
    except RecursionError:
        raise ConfigError(f"{name}: not a perfcheck report: nested too deeply") from None
    except ValueError as exc:  # a number of 5,000 digits
        raise ConfigError(f"{name}: not JSON: {str(exc).partition(':')[0]}") from None
    problem = _report_problem(data)
    if problem:
        raise ConfigError(f"{name}: not a perfcheck report: {problem}")
    try:
        return Report.from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # the shape check should have said why
        raise ConfigError(f"{name}: not a perfcheck report: {type(exc).__name__}: {exc}") from None


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "true/false", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _depth(value: Any) -> int:
    """How deeply a JSON value nests (iterative: the answer must not be a RecursionError)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_REPORT_DEPTH:
            break
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, level + 1) for child in children)
    return deepest


def _report_problem(data: Any) -> str | None:
    """What makes `data` not a perfcheck.report/1 report, in a few words naming the field."""
    if not isinstance(data, dict):
        return f"expected a JSON object, got {_json_type(data)} (save one with perfcheck audit --format json)"
    if data.get("schema") != SCHEMA:
        if "schema" not in data:
            return "it has no \"schema\" field (save one with perfcheck audit --format json)"
        return f"not a {SCHEMA} report (schema: {str(data.get('schema'))[:80]!r})"
    if _depth(data) > MAX_REPORT_DEPTH:
        return f"nested more than {MAX_REPORT_DEPTH} levels deep"

    def number(value: Any, optional: bool = True) -> bool:
        return (optional and value is None) or (isinstance(value, _NUMBER) and not isinstance(value, bool))

    if not number(data.get("score")):
        return f"score: expected a number or null, got {_json_type(data.get('score'))}"
    for key, kind, default in (("categories", list, []), ("checks", list, []), ("targets", dict, {}), ("errors", list, [])):
        value = data.get(key, default)
        if value is not None and not isinstance(value, kind):
            return f"{key}: expected {_json_type(kind())}, got {_json_type(value)}"
    for i, cat in enumerate(data.get("categories") or []):
        if not isinstance(cat, dict) or not isinstance(cat.get("id"), str):
            return f"categories[{i}]: expected an object with an \"id\""
        if not number(cat.get("score")):
            return f"categories[{i}].score: expected a number or null, got {_json_type(cat.get('score'))}"
    for i, check in enumerate(data.get("checks") or []):
        where = f"checks[{i}]"
        if not isinstance(check, dict):
            return f"{where}: expected an object, got {_json_type(check)}"
        for key in ("id", "category", "target"):
            if not isinstance(check.get(key), str):
                return f"{where}.{key}: expected a string, got {_json_type(check.get(key))}"
        if check.get("status") not in _STATUSES:
            return f"{where}.status: {str(check.get('status'))[:40]!r} is not one of {', '.join(sorted(_STATUSES))}"
        if not number(check.get("score")) or not number(check.get("weight", 1.0), optional=False):
            return f"{where}: score and weight must be numbers"
        for key in ("title", "summary", "muted"):
            if check.get(key) is not None and not isinstance(check[key], str):
                return f"{where}.{key}: expected a string, got {_json_type(check[key])}"
        for key, kind in (("metrics", dict), ("findings", list)):
            if check.get(key) is not None and not isinstance(check[key], kind):
                return f"{where}.{key}: expected {_json_type(kind())}, got {_json_type(check[key])}"
        for j, finding in enumerate(check.get("findings") or []):
            if not isinstance(finding, dict):
                return f"{where}.findings[{j}]: expected an object, got {_json_type(finding)}"
            for key in ("severity", "object", "message"):
                if not isinstance(finding.get(key), str):
                    return f"{where}.findings[{j}].{key}: expected a string, got {_json_type(finding.get(key))}"
            if finding.get("evidence") is not None and not isinstance(finding["evidence"], dict):
                return f"{where}.findings[{j}].evidence: expected an object, got {_json_type(finding['evidence'])}"
            for key in ("fix", "muted"):
                if finding.get(key) is not None and not isinstance(finding[key], str):
                    return f"{where}.findings[{j}].{key}: expected a string, got {_json_type(finding[key])}"
    return None
