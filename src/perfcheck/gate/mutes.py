"""The mute list: findings (or whole checks) a team has accepted, each with a reason.

An entry in perfcheck.yaml's `mute:` names either a finding `key` (`check:object`, as in
the JSON report; shell-style wildcards allowed) or a `check` id, always with a `reason`;
`until: 2025-12-31` makes it lapse on that day. Muted findings stay in every report,
marked with the reason; they never fail a gate and never count as a regression.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from fnmatch import fnmatchcase
from typing import Any, Iterable

from perfcheck.config import ConfigError, did_you_mean
from perfcheck.model import CheckResult, Report

_ACTIONABLE = ("warn", "fail")  # finding severities a gate or a baseline cares about


@dataclass(frozen=True)
class Mute:
    reason: str
    key: str | None = None  # a finding key pattern, e.g. "db.unused_indexes:public.idx_*"
    check: str | None = None  # a whole check
    until: date | None = None

    def matches_check(self, check_id: str) -> bool:
        return self.check == check_id

    def matches_finding(self, key: str) -> bool:
        return self.key is not None and fnmatchcase(key, self.key)


def _until(value: Any, where: str, at: tuple[Any, ...]) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"{where}.until: expected a date like 2025-12-31, got {value!r}", at) from None


def parse(entries: Iterable[dict[str, Any]], known_checks: Iterable[str], today: date | None = None) -> tuple[list[Mute], list[str]]:
    """The mutes in force today, and one line for each that has lapsed."""
    today = today or date.today()
    known = set(known_checks)
    active: list[Mute] = []
    lapsed: list[str] = []
    for i, entry in enumerate(entries):
        where, at = f"mute[{i}]", ("mute", i)
        key, check = entry.get("key"), entry.get("check")
        if (key is None) == (check is None):
            raise ConfigError(f"{where}: give either `key` (check:object) or `check` (a check id)", at)
        if not (entry.get("reason") or "").strip():
            raise ConfigError(f"{where}: a mute needs a `reason` (why the finding is accepted)", at)
        named = check if check is not None else key.partition(":")[0]
        if ":" not in (key or ":"):
            raise ConfigError(f"{where}.key: {key!r} is not a finding key (check:object); use `check:` to mute a whole check", at)
        if not any(ch in named for ch in "*?[") and named not in known:
            raise ConfigError(f"{where}: unknown check {named!r}{did_you_mean(named, known)} (see `perfcheck checks`)", at)
        mute = Mute(entry["reason"].strip(), key, check, _until(entry.get("until"), where, (*at, "until")))
        if mute.until is not None and mute.until < today:
            lapsed.append(f"the mute of {key or check} lapsed on {mute.until.isoformat()} ({mute.reason}); it no longer applies")
            continue
        active.append(mute)
    return active, lapsed


def apply(report: Report, mutes: list[Mute]) -> None:
    """Mark the muted checks and findings in the report (in place)."""
    for result in report.checks:
        whole = next((m for m in mutes if m.matches_check(result.id)), None)
        if whole:
            result.muted = whole.reason
        for finding in result.findings:
            key = f"{result.id}:{finding.object}"
            hit = whole or next((m for m in mutes if m.matches_finding(key)), None)
            if hit:
                finding.muted = hit.reason


def accepted(result: CheckResult) -> str | None:
    """Why a check does not count against a gate: it is muted, or every warn/fail finding
    it has is muted (its score still counts: a mute accepts a finding, it doesn't hide it)."""
    if result.muted:
        return result.muted
    actionable = [f for f in result.findings if f.severity in _ACTIONABLE]
    if actionable and all(f.muted for f in actionable):
        reasons = sorted({f.muted for f in actionable if f.muted})
        return "; ".join(reasons)
    return None
