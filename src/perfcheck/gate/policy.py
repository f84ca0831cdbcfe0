"""CI gates that compose: --fail-under, --fail-on, per-check assertions, the mute list
and the baseline comparison. The gate fails (exit 1) when any `error`-level condition
fails; `warn`-level assertions are printed and never fail.

Assertions in perfcheck.yaml, in the manner of Lighthouse CI's:

    assertions:
      db.timeouts: error                 # must pass (a muted finding is accepted)
      db.unused_indexes: off             # never fails the gate, whatever --fail-on says
      cache.hit_rate: {level: warn, min_score: 0.9}
      api.latency: {level: error, max: {"endpoints.GET /api/songs.p95_ms": 100}}
      database: {min_score: 0.8}         # a category (score 0-1, like Lighthouse)

A check with an assertion is judged by it instead of by --fail-on. `Policy` reads the
mutes, assertions, tolerances and the baseline before the audit and judges the report after.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from perfcheck.gate.baseline import Comparison, Tolerances, compare, read_report
from perfcheck.config import Config, ConfigError, did_you_mean
from perfcheck.model import CheckResult, Report, Status
from perfcheck.gate.mutes import Mute, accepted
from perfcheck.gate.mutes import apply as apply_mutes
from perfcheck.gate.mutes import parse as parse_mutes
from perfcheck.files import check_writable, write_atomic

LEVELS = ("off", "warn", "error")
_FAIL_ON = {"fail": {Status.FAIL}, "warn": {Status.FAIL, Status.WARN}}


@dataclass(frozen=True)
class Assertion:
    subject: str  # a check id or a category id
    level: str  # off | warn | error
    min_score: float | None = None  # 0-1
    max: dict[str, float] = field(default_factory=dict)  # metric path -> highest allowed value
    category: bool = False

    def problems(self, report: Report) -> list[str]:
        """Why the assertion does not hold in this report (empty: it holds, or it can't apply)."""
        if self.level == "off":
            return []
        if self.category:
            cat = next((c for c in report.categories if c.id == self.subject), None)
            if cat is None or cat.score is None or self.min_score is None:
                return []
            return [] if cat.score >= self.min_score * 100 else [f"{cat.title} score {cat.score} is under {self.min_score * 100:g}"]
        result = next((r for r in report.checks if r.id == self.subject), None)
        if result is None or result.status in (Status.SKIP, Status.MANUAL):
            return []  # not run here: nothing to assert
        if result.status is Status.ERROR:
            return [f"{result.id} could not be judged: {result.summary}"]
        found = []
        if self.min_score is None and not self.max and result.status is not Status.PASS and not accepted(result):
            found.append(f"{result.id} is {result.status.value}: {result.summary}")
        if self.min_score is not None and (result.score or 0) < self.min_score:
            found.append(f"{result.id} score {round((result.score or 0) * 100)} is under {self.min_score * 100:g}")
        for path, limit in self.max.items():
            value = metric(result.metrics, path)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                known = ", ".join(sorted(result.metrics)) or "none"
                found.append(f"{result.id}: metric {path!r} is not reported (its metrics: {known})")
            elif value > limit:
                found.append(f"{result.id}: {path} is {value:g}, over the {limit:g} allowed")
        return found


def metric(metrics: dict[str, Any], path: str) -> Any:
    """A value by dotted path; a key may itself contain dots (an endpoint named "GET /v1.2")."""
    node: Any = metrics
    rest = path
    while rest:
        if not isinstance(node, dict):
            return None
        key = next((k for k in sorted(node, key=lambda k: -len(str(k)))
                    if rest == str(k) or rest.startswith(f"{k}.")), None)
        if key is None:
            return None
        node, rest = node[key], rest[len(str(key)) + 1:]
    return node


def parse_assertions(section: dict[str, Any], known_checks: Iterable[str], known_categories: Iterable[str]) -> dict[str, Assertion]:
    checks, categories = set(known_checks), set(known_categories)
    found = {}
    for subject, value in section.items():
        where = f"assertions.{subject}"
        is_category = subject in categories
        if subject not in checks and not is_category:
            raise ConfigError(f"{where}: unknown check or category {subject!r}{did_you_mean(subject, [*checks, *categories])}"
                              " (see `perfcheck checks`)", ("assertions", subject))
        options: dict[str, Any] = value if isinstance(value, dict) else {"level": value}
        unknown = set(options) - {"level", "min_score", "max"}
        if unknown:
            raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r} (known: level, max, min_score)", ("assertions", subject))
        level = options.get("level", "error")
        level = "off" if level is False else level  # YAML reads a bare `off` as false
        if level not in LEVELS:
            raise ConfigError(f"{where}: level must be off, warn or error, got {level!r}", ("assertions", subject))
        min_score = options.get("min_score")
        if min_score is not None and (isinstance(min_score, bool) or not isinstance(min_score, (int, float)) or not 0 <= min_score <= 1):
            raise ConfigError(f"{where}.min_score: expected a number from 0 to 1 (0.9 = a score of 90), got {min_score!r}", ("assertions", subject))
        limits = options.get("max") or {}
        if not isinstance(limits, dict) or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in limits.values()):
            raise ConfigError(f"{where}.max: expected a mapping of metric name to a number, e.g. {{p95_ms: 100}}", ("assertions", subject))
        if is_category and limits:
            raise ConfigError(f"{where}: a category takes only min_score", ("assertions", subject))
        found[subject] = Assertion(subject, level, min_score, {str(k): float(v) for k, v in limits.items()}, is_category)
    return found


@dataclass
class Gate:
    failures: list[str] = field(default_factory=list)  # why the gate fails (exit 1)
    warnings: list[str] = field(default_factory=list)  # shown, never fail

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "failures": self.failures, "warnings": self.warnings}


def _fail_on(checks: list[CheckResult], level: str, asserted: set[str]) -> list[str]:
    bad = [r.id for r in checks if r.status in _FAIL_ON[level] and r.id not in asserted and not accepted(r)]
    return [f"{len(bad)} check(s) at or above {level}: {', '.join(bad)}"] if bad else []


def evaluate(report: Report, *, fail_under: int | None = None, fail_on: str | None = None,
             assertions: dict[str, Assertion] | None = None, comparison: Comparison | None = None,
             accept_regressions: bool = False, notes: Iterable[str] = ()) -> Gate:
    """Every gate at once. `accept_regressions` (--update-baseline) reports regressions
    without failing on them: the new baseline accepts them."""
    assertions = assertions or {}
    gate = Gate(warnings=list(notes))
    if fail_under is not None and (report.score is None or report.score < fail_under):
        gate.failures.append(f"score {report.score if report.score is not None else 'unknown'} is under {fail_under}")
    if fail_on is not None:
        gate.failures += _fail_on(report.checks, fail_on, {a.subject for a in assertions.values() if not a.category})
    for assertion in assertions.values():
        problems = assertion.problems(report)
        (gate.failures if assertion.level == "error" else gate.warnings).extend(problems)
    if comparison is not None and comparison.regressions:
        names = "; ".join(c.short for c in comparison.regressions[:8])
        more = f"; and {len(comparison.regressions) - 8} more" if len(comparison.regressions) > 8 else ""
        line = f"{len(comparison.regressions)} regression(s) against the baseline: {names}{more}"
        if accept_regressions:
            gate.warnings.append(f"accepted by --update-baseline: {line}")
        else:
            gate.failures.append(line)
    return gate


@dataclass
class Policy:
    """The gating configuration of one run, read and checked before the audit starts so a
    mistake is a one-line error (exit 2), not a surprise after minutes of auditing."""

    mutes: list[Mute] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # warnings for the run: lapsed mutes, a replaced baseline
    assertions: dict[str, Assertion] = field(default_factory=dict)
    tolerances: Tolerances = field(default_factory=Tolerances.default)
    baseline: Report | None = None
    baseline_path: Path | None = None
    update_baseline: bool = False

    @classmethod
    def load(cls, config: Config, check_ids: Iterable[str], category_ids: Iterable[str], *,
             baseline_path: Path | None = None, update_baseline: bool = False) -> Policy:
        check_ids = list(check_ids)
        try:
            mutes, lapsed = parse_mutes(config.data["mute"], check_ids)
            assertions = parse_assertions(config.data["assertions"], check_ids, category_ids)
        except ConfigError as exc:
            raise config.locate(exc) from None
        policy = cls(mutes, lapsed, assertions,
                     Tolerances.from_config(config.data["baseline"]), None, baseline_path, update_baseline)
        if update_baseline and baseline_path is None:
            raise ConfigError("--update-baseline needs --baseline FILE")
        if baseline_path is not None:
            if update_baseline:  # it is written after the audit: find out now that it can't be
                check_writable(baseline_path, "--baseline")
            if baseline_path.exists():
                try:
                    policy.baseline = read_report(baseline_path, "--baseline")
                except ConfigError as exc:
                    if not update_baseline:
                        raise
                    policy.notes.append(f"the old baseline is unreadable ({exc}); --update-baseline replaces it")
            elif not update_baseline:
                raise ConfigError(f"--baseline {baseline_path}: no such file; run once with --update-baseline to create it")
        return policy

    def judge(self, report: Report, *, fail_under: int | None = None, fail_on: str | None = None) -> Gate:
        """Mark mutes, compare with the baseline, evaluate every gate; the report then carries both."""
        apply_mutes(report, self.mutes)
        comp = compare(self.baseline, report, self.tolerances) if self.baseline is not None else None
        gate = evaluate(report, fail_under=fail_under, fail_on=fail_on, assertions=self.assertions, comparison=comp,
                        accept_regressions=self.update_baseline, notes=self.notes)
        report.baseline = comp.to_dict() if comp is not None else None
        report.gate = gate.to_dict()
        return gate

    def save_baseline(self, report: Report) -> Path | None:
        """With --update-baseline: this run becomes the baseline (written whole, or not at all)."""
        if not (self.update_baseline and self.baseline_path):
            return None
        data = report.to_dict()
        data.pop("baseline", None)
        data.pop("gate", None)
        write_atomic(self.baseline_path, json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")
        return self.baseline_path
