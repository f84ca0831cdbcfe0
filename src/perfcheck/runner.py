"""The audit: select checks, gather the facts they need (collectors run concurrently),
judge every check, score. Gather once, then judge."""

from __future__ import annotations

import gc
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from perfcheck import __version__, checklist, scoring
from perfcheck.collectors import TARGET_CONFIG, TargetError, Unavailable, collector_class
from perfcheck.config import ENV_TARGETS, TARGET_FLAGS, Config, ConfigError
from perfcheck.model import CheckResult, Report, Status
from perfcheck.redact import scrub
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


def _gather(target: str, url: str, needed: set[str], config: Config, progress: Progress,
            thresholds: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    collector = collector_class(target)(url, config.section(target), config.secrets)
    collector.thresholds = thresholds or {}
    collector.progress = lambda fact, done, total: progress.detail(target, fact, done, total)
    progress.start(target, len(needed))
    try:
        return collector.gather(needed, lambda fact: progress.step(target, fact))
    finally:
        progress.done(target)


def _result(check: Check, facts: dict[str, Any], thresholds: dict[str, dict[str, Any]],
            target_status: dict[str, Outcome], config: Config) -> CheckResult:
    """One check's result: blocked by its target's state (not configured, unreachable), or judged."""
    meta = check.meta
    weight = float(config.check_overrides(check.id).get("weight", meta.weight))
    targets = {fact.partition(".")[0] for fact in check.requires}
    blocked = next((target_status[t] for t in sorted(targets) if t in target_status), None)
    if meta.target in target_status and not targets:
        blocked = target_status[meta.target]
    outcome = blocked or judge(check, facts, thresholds[check.id], config.secrets)
    title = meta.title if outcome.status in (Status.PASS, Status.SKIP, Status.MANUAL) or not meta.failure_title else meta.failure_title
    return CheckResult(
        id=meta.id, category=meta.category, target=meta.target, title=title,
        status=outcome.status, score=outcome.score if outcome.status.judged else None,
        summary=outcome.summary, metrics=outcome.metrics, findings=outcome.findings, weight=weight,
    )


def run_audit(config: Config, loaded: dict[str, Check], progress: Progress | None = None,
              load_problems: list[str] | None = None) -> Report:
    progress = progress or Progress()
    started = time.perf_counter()
    selected = select(loaded, config.data["only"], config.data["skip"])
    thresholds = {check.id: thresholds_for(check, config) for check in selected}

    needed: dict[str, set[str]] = {}
    for check in selected:
        for fact in check.requires:
            needed.setdefault(fact.partition(".")[0], set()).add(fact)

    facts: dict[str, Any] = {}
    target_status: dict[str, Outcome] = {}  # a target-wide outcome for every check on it
    errors: list[str] = list(load_problems or [])
    jobs = {}
    with ThreadPoolExecutor(max_workers=max(1, len(needed))) as pool:
        for target, names in needed.items():
            config_key = TARGET_CONFIG.get(target)
            url = config.target(config_key) if config_key else None
            if not url:
                how = f"{TARGET_FLAGS[config_key]} or {ENV_TARGETS[config_key]}"
                target_status[target] = Outcome.skip(f"no {target} target configured ({how})")
                continue
            jobs[target] = pool.submit(_gather, target, url, names, config, progress, thresholds)
        for target, job in jobs.items():
            try:
                facts.update(job.result())
            except TargetError as exc:
                message = scrub(str(exc), config.secrets)
                errors.append(message)
                target_status[target] = Outcome.error(message)
            except ImportError as exc:
                target_status[target] = Outcome.error(f"the {target} collector is not available: {exc}")

    if jobs and all(target in target_status for target in jobs):
        raise NoTargetReached("; ".join(errors[-len(jobs):]))

    # The facts are read-only while checks judge them: frozen once, the garbage collector stops
    # re-scanning them on every burst of allocations (half the judging time on a big catalog).
    gc.freeze()
    try:
        results = [_result(check, facts, thresholds, target_status, config) for check in selected]
    finally:
        gc.unfreeze()

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
        duration_s=time.perf_counter() - started,
    )
