"""The SARIF 2.1.0 view, for code scanning (GitHub's upload-sarif and other SARIF readers).

One rule per check in the report (its metadata from the checklist), one result per
finding; a failing check with no finding gets one result of its own. Levels follow the
severity (fail → error, warn → warning, info → note). A muted finding carries an external
suppression with its reason; with --baseline each result has a `baselineState`, and the
other regressions (status, score, latency) are results of the rule `perfcheck.regression`.

A finding is about a live system, not a source file, so no per-object file path is
invented: each result names its object as a logical location (fully qualified name and
kind). Its physical location is the perfcheck.yaml the audit read (line 1, where a
threshold, assertion or mute would change), else `perfcheck.yaml`, the file perfcheck
reads by default: GitHub code scanning rejects the whole SARIF file when a result has no
physical location, so one is always given, and it is the same for every result. `partialFingerprints` carries the finding key,
so alerts match across runs. Each rule's `helpUri` is its section of docs/checks.md,
relative to the repository (perfcheck has no documentation host).

SARIF's `fixes` are edits to files (`artifactChanges`); perfcheck's fixes are statements to
run against a database or server, with no file to edit. So they go in the result's
`properties` (fix, fixStatements, fixApplicability) and the rule's help says how to apply
them, rather than a `fix` that would point at a file that does not exist.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from perfcheck import checklist
from perfcheck.report import jsontext
from perfcheck.model import CheckResult, Finding, Report, Status
from perfcheck.report import comparison
from perfcheck.report.links import DEFAULT_CONFIG_PATH, help_uri

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
        "helpUri": help_uri(result.id),
        "defaultConfiguration": {"level": "warning"},
        "properties": {"category": result.category, "target": result.target, "tags": ["performance", result.category]},
    }
    if meta and meta.why:
        rule["fullDescription"] = {"text": meta.why}
    parts = [("How it is measured", meta.measured if meta else ""), ("How to fix it", meta.how_to_fix if meta else "")]
    applicabilities = {f.fix.applicability.value for f in result.findings if f.fix}
    if applicabilities:
        lines = [f"- {_APPLICABILITY[a]}" for a in ("safe", "unsafe", "manual") if a in applicabilities]
        if result.id == "db.missing_indexes":
            lines.append("- `perfcheck apply-indexes` builds these indexes (a dry run first, then --yes), "
                         "or writes them as a migration with --write-migration FILE.")
        parts.append(("Fixes in this report", "\n".join([_FIX_HELP, *lines])))
    if any(text for _, text in parts):
        rule["help"] = {
            "text": "\n\n".join(f"{label}: {text}" for label, text in parts if text),
            "markdown": "\n\n".join(f"**{label}**\n\n{text}" for label, text in parts if text),
        }
    return rule


_FIX_HELP = ("A fix is statements to run against the audited system, not an edit to a file: each result's "
             "properties carry it as fixStatements, with its fixApplicability.")
_APPLICABILITY = {
    "safe": "safe: runs as it is without blocking the application (e.g. CREATE INDEX CONCURRENTLY).",
    "unsafe": "unsafe: correct in general but may hurt (e.g. DROP INDEX, which a replica may use): review it first.",
    "manual": "manual: a person applies it (a setting, a restart, a header, a code change).",
}
# The kind of object a check's findings name, where the check is known; else SARIF's generic "object".
_KINDS = {"db.unused_indexes": "index", "db.duplicate_indexes": "index", "db.invalid_indexes": "index",
          "db.fk_indexes": "table", "db.timeouts": "setting"}


def _location(check_id: str, target: str, obj: str, config_file: str | None) -> list[dict[str, Any]]:
    return [{
        "physicalLocation": {"artifactLocation": {"uri": quote(config_file or DEFAULT_CONFIG_PATH, safe="/")},
                             "region": {"startLine": 1}},
        "logicalLocations": [{"fullyQualifiedName": obj or target, "kind": _KINDS.get(check_id, "object"),
                              "properties": {"target": target}}],
    }]


def _finding_result(result: CheckResult, index: int, finding: Finding, states: dict[str, str] | None,
                    config_file: str | None) -> dict[str, Any]:
    key = f"{result.id}:{finding.object}"
    text = f"{finding.object}: {finding.message}"
    out: dict[str, Any] = {
        "ruleId": result.id,
        "ruleIndex": index,
        "level": _LEVEL.get(finding.severity, "note"),
        "message": {"text": text},
        "locations": _location(result.id, result.target, finding.object, config_file),
        "partialFingerprints": {_FINGERPRINT: key},
        "properties": {"key": key, "evidence": finding.evidence},
    }
    if finding.fix:
        out["message"]["text"] += f"\nFix ({finding.fix.applicability.value}): {finding.fix.text}"
        out["properties"].update(fix=finding.fix.text, fixStatements=list(finding.fix.statements),
                                 fixApplicability=finding.fix.applicability.value)
    if finding.muted:
        out["suppressions"] = [{"kind": "external", "justification": finding.muted}]
    if states is not None:  # compared with a baseline
        out["baselineState"] = states.get(key, "unchanged")
    return out


def _check_result(result: CheckResult, index: int, config_file: str | None) -> dict[str, Any]:
    """A failing or warning check that has no finding still shows as one result."""
    out: dict[str, Any] = {
        "ruleId": result.id,
        "ruleIndex": index,
        "level": "error" if result.status is Status.FAIL else "warning",
        "message": {"text": result.summary or result.title},
        "locations": _location(result.id, result.target, result.id, config_file),
        "partialFingerprints": {_FINGERPRINT: result.id},
        "properties": {"metrics": result.metrics},
    }
    if result.muted:
        out["suppressions"] = [{"kind": "external", "justification": result.muted}]
    return out


def to_sarif(report: Report, *, config_file: str | None = None) -> str:
    rules = [_rule(r) for r in report.checks]
    comp = comparison.of(report)
    states = None if comp is None else {
        change.key: "new" if change.kind == "finding" else "updated"
        for change in comp.regressions + comp.muted if change.kind in ("finding", "severity")
    }
    results = []
    for index, result in enumerate(report.checks):
        if result.findings:
            results += [_finding_result(result, index, f, states, config_file) for f in result.findings]
        elif result.status in (Status.FAIL, Status.WARN):
            results.append(_check_result(result, index, config_file))
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
                "locations": _location(REGRESSION_RULE, "baseline", change.key, config_file),
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
    return jsontext.dumps(log, default=str) + "\n"  # json.dumps(indent=2)'s bytes, twice as fast
