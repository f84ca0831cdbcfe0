"""The SARIF 2.1.0 view, for code scanning (GitHub's upload-sarif and other SARIF readers).

One rule per check in the report (its metadata from the checklist), one result per
finding; a failing check with no finding gets one result of its own. Levels follow the
severity (fail → error, warn → warning, info → note). A muted finding carries an external
suppression with its reason; with --baseline each result has a `baselineState`, and the
other regressions (status, score, latency) are results of the rule `perfcheck.regression`.

A finding is about a live system, not a source file, yet code scanning needs a location:
each result points at a stable repository-relative path `perfcheck/<target>/<object>`
(the same object keeps the same path run after run) and names the object as a logical
location. `partialFingerprints` carries the finding key, so alerts match across runs.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from perfcheck import checklist
from perfcheck.model import CheckResult, Finding, Report, Status
from perfcheck.report import comparison

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
REGRESSION_RULE = "perfcheck.regression"
_LEVEL = {"fail": "error", "warn": "warning", "info": "note"}
_FINGERPRINT = "perfcheckFindingKey/v1"


def _rule_name(check_id: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", check_id) if part)


def _rule(result: CheckResult) -> dict[str, Any]:
    meta = checklist.meta(result.id)
    title = meta.title if meta else result.title
    rule: dict[str, Any] = {
        "id": result.id,
        "name": _rule_name(result.id),
        "shortDescription": {"text": title},
        "defaultConfiguration": {"level": "warning"},
        "properties": {"category": result.category, "target": result.target, "tags": ["performance", result.category]},
    }
    if meta and meta.why:
        rule["fullDescription"] = {"text": meta.why}
    if meta and (meta.how_to_fix or meta.measured):
        parts = [("How it is measured", meta.measured), ("How to fix it", meta.how_to_fix)]
        rule["help"] = {
            "text": "\n\n".join(f"{label}: {text}" for label, text in parts if text),
            "markdown": "\n\n".join(f"**{label}**\n\n{text}" for label, text in parts if text),
        }
    return rule


def _location(target: str, obj: str) -> list[dict[str, Any]]:
    return [{
        "physicalLocation": {"artifactLocation": {"uri": f"perfcheck/{quote(target, safe='')}/{quote(obj or '-', safe='')}"}},
        "logicalLocations": [{"fullyQualifiedName": obj or target, "kind": "object"}],
    }]


def _finding_result(result: CheckResult, index: int, finding: Finding, states: dict[str, str] | None) -> dict[str, Any]:
    key = f"{result.id}:{finding.object}"
    text = f"{finding.object}: {finding.message}"
    out: dict[str, Any] = {
        "ruleId": result.id,
        "ruleIndex": index,
        "level": _LEVEL.get(finding.severity, "note"),
        "message": {"text": text},
        "locations": _location(result.target, finding.object),
        "partialFingerprints": {_FINGERPRINT: key},
        "properties": {"key": key, "evidence": finding.evidence},
    }
    if finding.fix:
        out["message"]["text"] += f"\nFix ({finding.fix.applicability.value}): {finding.fix.text}"
        out["properties"].update(fix=finding.fix.text, fixApplicability=finding.fix.applicability.value)
    if finding.muted:
        out["suppressions"] = [{"kind": "external", "justification": finding.muted}]
    if states is not None:  # compared with a baseline
        out["baselineState"] = states.get(key, "unchanged")
    return out


def _check_result(result: CheckResult, index: int) -> dict[str, Any]:
    """A failing or warning check that has no finding still shows as one result."""
    out: dict[str, Any] = {
        "ruleId": result.id,
        "ruleIndex": index,
        "level": "error" if result.status is Status.FAIL else "warning",
        "message": {"text": result.summary or result.title},
        "locations": _location(result.target, result.id),
        "partialFingerprints": {_FINGERPRINT: result.id},
        "properties": {"metrics": result.metrics},
    }
    if result.muted:
        out["suppressions"] = [{"kind": "external", "justification": result.muted}]
    return out


def to_sarif(report: Report) -> str:
    rules = [_rule(r) for r in report.checks]
    comp = comparison.of(report)
    states = None if comp is None else {
        change.key: "new" if change.kind == "finding" else "updated"
        for change in comp.regressions + comp.muted if change.kind in ("finding", "severity")
    }
    results = []
    for index, result in enumerate(report.checks):
        if result.findings:
            results += [_finding_result(result, index, f, states) for f in result.findings]
        elif result.status in (Status.FAIL, Status.WARN):
            results.append(_check_result(result, index))
    if comp is not None and comp.regressions:
        rules.append({
            "id": REGRESSION_RULE,
            "name": "Regression",
            "shortDescription": {"text": "Worse than the baseline report"},
            "fullDescription": {"text": "A check, score or latency percentile got worse than in the baseline (perfcheck audit --baseline)."},
            "defaultConfiguration": {"level": "error"},
        })
        for change in comp.regressions:
            if change.kind in ("finding", "severity"):
                continue  # already a result of its check, marked new or updated
            results.append({
                "ruleId": REGRESSION_RULE,
                "ruleIndex": len(rules) - 1,
                "level": "error",
                "message": {"text": change.message},
                "locations": _location("baseline", change.key),
                "partialFingerprints": {_FINGERPRINT: f"regression:{change.kind}:{change.key}"},
                "baselineState": "updated",
                "properties": {"before": change.before, "after": change.after},
            })
    notifications = [
        {"level": "error", "message": {"text": f"{r.id}: {r.summary}"}, "descriptor": {"id": r.id}}
        for r in report.checks if r.status is Status.ERROR
    ] + [{"level": "error", "message": {"text": error}} for error in report.errors]
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "perfcheck", "version": report.version or "0",
                            "semanticVersion": report.version or "0", "rules": rules}},
        "invocations": [{"executionSuccessful": True, "toolExecutionNotifications": notifications,
                         **({"startTimeUtc": report.created_at} if report.created_at else {})}],
        "results": results,
        "properties": {
            "score": report.score,
            "categories": {c.id: c.score for c in report.categories},
            **({"gate": report.gate} if report.gate is not None else {}),
        },
    }
    log = {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}
    return json.dumps(log, indent=2, ensure_ascii=False, default=str) + "\n"
