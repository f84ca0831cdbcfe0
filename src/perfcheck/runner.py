"""The audit: select checks, gather the facts they need (collectors run concurrently),
judge every check, score. Gather once, then judge."""

from __future__ import annotations

import gc
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from perfcheck import __version__, checklist, scoring, targets
from perfcheck.collectors import TargetError, Unavailable, collector_class
from perfcheck.config import Config, ConfigError
from perfcheck.model import CheckResult, Report, Status
from perfcheck.redact import for_config, scrub
from perfcheck.pg import dsn
from perfcheck.registry import Check, Outcome


class NoTargetReached(Exception):
    """Every configured target failed; the message lists why (exit 2)."""


@dataclass
class Progress:
    """Hooks for a progress display; the default does nothing."""

    start: Callable[[str, int], None] = lambda target, steps: None
    step: Callable[[str, str], None] = lambda target, fact: None
    done: Callable[[str], None] = lambda target: None
    # Progress inside one long fact (the latency run): (target, fact, done, total).
    detail: Callable[[str, str, int, int], None] = lambda target, fact, done, total: None


def select(checks: dict[str, Check], only: list[str], skip: list[str]) -> list[Check]:
    """--only and --skip take check ids or category ids; an unknown one is a usage error."""
    categories = {c.category for c in (check.meta for check in checks.values())}
    for item in [*only, *skip]:
        if item not in checks and item not in categories:
            raise ConfigError(f"unknown check or category {item!r} (see `perfcheck checks`)")

    def matches(check: Check, items: list[str]) -> bool:
        return check.id in items or check.meta.category in items

    return [c for c in checks.values() if (not only or matches(c, only)) and not matches(c, skip)]


def thresholds_for(check: Check, config: Config) -> dict[str, Any]:
    merged = dict(check.meta.thresholds)
    overrides = config.check_overrides(check.id).get("thresholds", {})
    for key in overrides:
        if key not in merged:
            known = ", ".join(sorted(merged)) or "none"
            raise ConfigError(f"checks.{check.id}.thresholds: unknown threshold {key!r} (known: {known})")
    merged.update(overrides)
    return merged


def judge(check: Check, facts: dict[str, Any], thresholds: dict[str, Any], secrets: list[str]) -> Outcome:
    for name in check.requires:
        value = facts.get(name)
        if isinstance(value, Unavailable):
            return Outcome(value.status, None, value.reason)
    try:
        return check.judge(facts, thresholds)
    except Exception as exc:  # a bug in one check (or a plugin) must not sink the audit
        return Outcome.error(scrub(f"the check failed: {type(exc).__name__}: {exc}", secrets))


class _Job(threading.Thread):
    """One target's collector in a daemon thread: one stuck in a socket read past the deadline
    is left behind, and can't keep the process alive after the report is out."""

    def __init__(self, target: str, url: str, needed: set[str], config: Config, progress: Progress,
                 thresholds: dict[str, dict[str, Any]], deadline: float):
        super().__init__(daemon=True, name=f"perfcheck-{target}")
        self.target, self.needed, self.progress = target, needed, progress
        self.current = ""  # the fact being gathered, to name it if time runs out
        self.facts: dict[str, Any] | None = None
        self.error: BaseException | None = None
        self.collector = None
        self.deadline = deadline
        self.within = ""  # the budget as the user set it, for the message
        self.args = (url, config, thresholds, deadline)

    def run(self) -> None:
        url, config, thresholds, deadline = self.args
        target, progress = self.target, self.progress
        try:
            collector = collector_class(target)(url, config.section(target), config.secrets)
            collector.thresholds = thresholds
            collector.deadline = deadline  # collectors stop starting new work past it
            collector.progress = lambda fact, done, total: progress.detail(target, fact, done, total)
            self.collector = collector
            progress.start(target, len(self.needed))

            def step(fact: str) -> None:
                self.current = fact
                progress.step(target, fact)

            try:
                self.facts = collector.gather(self.needed, step)
            finally:
                progress.done(target)
        except BaseException as exc:  # handed to the main thread, which reports it
            self.error = exc

    def partial(self, reason: str) -> dict[str, Any]:
        """The facts gathered before time ran out; the others are `error` with the reason."""
        done = dict(self.collector.facts) if self.collector is not None else {}
        return {name: done[name] if name in done else Unavailable(reason, Status.ERROR) for name in self.needed}


def _result(check: Check, facts: dict[str, Any], thresholds: dict[str, dict[str, Any]],
            target_status: dict[str, Outcome], config: Config) -> CheckResult:
    """One check's result: blocked by its target's state (not configured, unreachable), or judged."""
    meta = check.meta
    weight = float(config.check_overrides(check.id).get("weight", meta.weight))
    wanted = {fact.partition(".")[0] for fact in check.requires}
    blocked = next((target_status[t] for t in sorted(wanted) if t in target_status), None)
    if meta.target in target_status and not wanted:
        blocked = target_status[meta.target]
    outcome = blocked or judge(check, facts, thresholds[check.id], config.secrets)
    title = meta.title if outcome.status in (Status.PASS, Status.SKIP, Status.MANUAL) or not meta.failure_title else meta.failure_title
    return CheckResult(
        id=meta.id, category=meta.category, target=meta.target, title=title,
        status=outcome.status, score=outcome.score if outcome.status.judged else None,
        summary=outcome.summary, metrics=outcome.metrics, findings=outcome.findings, weight=weight,
    )


def run_audit(config: Config, loaded: dict[str, Check], progress: Progress | None = None,
              load_problems: list[str] | None = None, deadline: float | None = None) -> Report:
    """`deadline` (time.monotonic()) ends the audit; by default `max_seconds` from now."""
    progress = progress or Progress()
    started = time.monotonic()
    selected = select(loaded, config.data["only"], config.data["skip"])
    thresholds = {check.id: thresholds_for(check, config) for check in selected}
    facts: dict[str, Any] = {}
    target_status: dict[str, Outcome] = {}  # a target-wide outcome for every check on it
    errors: list[str] = list(load_problems or [])
    # The collectors' share of the audit's time; what is left is for judging and the report.
    deadline = (deadline if deadline is not None else started + float(config.data["max_seconds"]))
    jobs = _start_jobs(_needed(selected), config, progress, thresholds, started, deadline, target_status)
    _collect(jobs, config, facts, target_status, errors)
    if jobs and all(target in target_status for target in jobs):
        raise NoTargetReached("; ".join(errors[-len(jobs):]))

    # The facts are read-only while checks judge them: frozen once, the garbage collector stops
    # re-scanning them on every burst of allocations (half the judging time on a big catalog).
    gc.freeze()
    try:
        results = [_result(check, facts, thresholds, target_status, config) for check in selected]
    finally:
        gc.unfreeze()
    report = _report(results, config, errors, started)
    report.notes = _target_notes(config, jobs)
    # The one choke point: every string of the finished report (summaries, findings, evidence,
    # metrics, excerpts of what the server answered, errors) loses the configured secrets
    # here, before any view, baseline or gate sees it.
    return for_config(config.data).record(report)


def _needed(selected: list[Check]) -> dict[str, set[str]]:
    """The facts the selected checks require, by target ("postgres": {"postgres.indexes", …})."""
    needed: dict[str, set[str]] = {}
    for check in selected:
        for fact in check.requires:
            needed.setdefault(fact.partition(".")[0], set()).add(fact)
    return needed


def _start_jobs(needed: dict[str, set[str]], config: Config, progress: Progress, thresholds: dict[str, dict[str, Any]],
                started: float, deadline: float, target_status: dict[str, Outcome]) -> dict[str, _Job]:
    """A gathering thread per configured target; a target without a URL is skipped."""
    jobs: dict[str, _Job] = {}
    budget = float(config.data["max_seconds"])
    gather_until = deadline - min(1.0, 0.1 * budget)
    for target, names in needed.items():
        known = targets.BY_WORD.get(target)
        config_key = known.key if known else None
        url = config.target(config_key) if config_key else None
        if not url:
            how = f"{known.flag} or {known.env}" if known else "no collector gathers its facts"
            target_status[target] = Outcome.skip(f"no {target} target configured ({how})")
            continue
        # A target's own budget (e.g. http.max_seconds) within the audit's.
        own = config.section(target).get("max_seconds") if config_key else None
        until, within = gather_until, f"{budget:g} s (the audit's max_seconds)"
        if own is not None and started + float(own) < gather_until:
            until, within = started + float(own), f"{float(own):g} s ({target}.max_seconds)"
        jobs[target] = _Job(target, url, names, config, progress, thresholds, until)
        jobs[target].within = within
        jobs[target].start()
    return jobs


def _collect(jobs: dict[str, _Job], config: Config, facts: dict[str, Any], target_status: dict[str, Outcome],
             errors: list[str]) -> None:
    """Wait for each job until its deadline; its facts, or why the target has none."""
    for target, job in jobs.items():
        job.join(max(0.0, job.deadline - time.monotonic()))
        if job.is_alive():
            doing = f"; it was gathering {job.current}" if job.current else ""
            message = f"{target}: did not finish within {job.within}{doing}"
            errors.append(message)
            facts.update(job.partial(message))
        elif isinstance(job.error, TargetError):
            message = scrub(str(job.error), config.secrets)
            errors.append(message)
            target_status[target] = Outcome.error(message)
        elif isinstance(job.error, ImportError):
            target_status[target] = Outcome.error(f"the {target} collector is not available: {job.error}")
        elif job.error is not None:
            raise job.error
        else:
            facts.update(job.facts or {})


def _target_notes(config: Config, jobs: dict[str, Any]) -> list[str]:
    """What the audited database URL carried that libpq cannot take (set aside, named once
    for the report, whichever checks ran)."""
    url = config.data["targets"].get("db")
    if "postgres" not in jobs or not url:
        return []
    try:
        note = dsn.parse(url, os.environ).note()
    except ValueError:
        return []
    return [f"db: {note}"] if note else []


def _report(results: list[CheckResult], config: Config, errors: list[str], started: float) -> Report:
    """The scored report, categories in the checklist's order (a plugin's own ones after)."""
    cats = checklist.categories()
    known = {c.id for c in cats}
    order = [(c.id, c.title) for c in cats] + sorted({(r.category, r.category) for r in results if r.category not in known})
    category_scores = scoring.score_categories(results, order)
    weights = {c.id: float(config.data["categories"].get(c.id, {}).get("weight", c.weight)) for c in cats}
    return Report(
        score=scoring.overall(category_scores, weights),
        categories=category_scores,
        checks=results,
        targets=config.redacted_targets(),
        errors=errors,
        version=__version__,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        duration_s=time.monotonic() - started,
    )
