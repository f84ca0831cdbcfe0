"""GitLab code quality: the JSON array GitLab reads from a job's `codequality` report
artifact and shows in the merge request widget and the pipeline's Code Quality tab.

GitLab wants a file and a line for every issue, but a finding is about a live system (a
table, a setting, an endpoint), not a line of source. Each issue therefore points at one
stable, real path: the perfcheck.yaml the audit read (repository-relative, when it is
inside the working directory), else `perfcheck.yaml`, line 1 — the file where a team
changes a threshold, an assertion or a mute. The object itself is named in the
description. The fingerprint is a hash of the finding's key (`check id:object`), which is
stable across runs, so GitLab can tell new issues from fixed ones between the branches.

Muted findings (accepted in perfcheck.yaml) are left out; checks that could not be judged
(`error`, `skip`, `manual`) are not code quality issues and are left out too. With
--baseline, a regression that is not already a finding's issue (a check's status, a score,
a latency percentile) is an issue of its own, `perfcheck.regression`, severity critical.
"""

from __future__ import annotations

import hashlib
from typing import Any

from perfcheck.report import jsontext
from perfcheck.model import CheckResult, Report, Status
from perfcheck.report import comparison
from perfcheck.report.links import DEFAULT_CONFIG_PATH

# GitLab's severities: info, minor, major, critical, blocker.
_SEVERITY = {"fail": "major", "warn": "minor", "info": "info"}


def _fingerprint(key: str) -> str:
    return hashlib.sha256(f"perfcheck:{key}".encode()).hexdigest()[:32]


def _issue(check_name: str, key: str, severity: str, description: str, path: str) -> dict[str, Any]:
    return {
        "type": "issue",
        "check_name": check_name,
        "description": description,
        "categories": ["Performance"],
        "severity": severity,
        "fingerprint": _fingerprint(key),
        "location": {"path": path, "lines": {"begin": 1}},
    }


def issues(report: Report, *, path: str | None = None) -> list[dict[str, Any]]:
    path = path or DEFAULT_CONFIG_PATH
    out: list[dict[str, Any]] = []
    for result in report.checks:
        if result.status not in (Status.FAIL, Status.WARN, Status.PASS) or result.muted:
            continue
        findings = [f for f in result.findings if not f.muted]
        for finding in findings:
            text = f"{result.id}: {finding.object}: {finding.message}"
            if finding.fix:
                text += f" Fix ({finding.fix.applicability.value}): {finding.fix.text}"
            out.append(_issue(result.id, f"{result.id}:{finding.object}", _SEVERITY.get(finding.severity, "info"), text, path))
        if not result.findings and result.status in (Status.FAIL, Status.WARN):
            # A failing check with nothing to list still shows, once.
            out.append(_issue(result.id, result.id, _SEVERITY[result.status.value],
                              f"{result.id}: {result.summary or result.title}", path))
    comp = comparison.of(report)
    for change in comp.regressions if comp is not None else []:
        if change.kind not in ("finding", "severity"):  # those are their finding's issue already
            out.append(_issue("perfcheck.regression", f"regression:{change.kind}:{change.key}", "critical",
                              f"Regression against the baseline: {change.message}", path))
    seen: dict[str, int] = {}
    for issue in out:  # GitLab drops all but one issue per fingerprint; keep each distinct
        count = seen.get(issue["fingerprint"], 0)
        seen[issue["fingerprint"]] = count + 1
        if count:
            issue["fingerprint"] = _fingerprint(f"{issue['fingerprint']}#{count}")
    return out


def to_gitlab(report: Report, *, path: str | None = None) -> str:
    return jsontext.dumps(issues(report, path=path)) + "\n"  # json.dumps(indent=2)'s bytes
