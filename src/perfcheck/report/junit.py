"""The JUnit XML view, for CI test-report panels: one test suite per category, one test
case per check. fail → <failure>, error → <error>, skip and manual → <skipped>; a warning
passes with its findings in <system-out>; a check the mute list accepts is <skipped> with
the reason. With --baseline a "baseline" suite has one case per regression, and a "gate"
suite one case that fails with the gate's reasons.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from perfcheck.model import CheckResult, Report, Status
from perfcheck.gate.mutes import accepted
from perfcheck.report import comparison
from perfcheck.report.text import xml_safe


def _details(result: CheckResult) -> str:
    lines = [result.summary]
    for finding in result.findings:
        muted = f" (muted: {finding.muted})" if finding.muted else ""
        lines.append(f"- [{finding.severity}] {finding.object}: {finding.message}{muted}")
        if finding.fix:
            lines.append(f"  fix ({finding.fix.applicability.value}): {finding.fix.text}")
    return "\n".join(lines)


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, {k: xml_safe(v) for k, v in attrs.items()})
    if text:
        el.text = xml_safe(text)
    return el


def _case(suite: ET.Element, result: CheckResult) -> str:
    """Add the test case; return its outcome: passed | failures | errors | skipped."""
    case = _el(suite, "testcase", classname=f"perfcheck.{result.category}", name=f"{result.id}: {result.title}", time="0")
    reason = accepted(result)
    if result.status is Status.FAIL and reason:
        _el(case, "skipped", message=f"accepted (muted): {reason}; {result.status.value}: {result.summary}")
        return "skipped"
    if result.status is Status.FAIL:
        _el(case, "failure", _details(result), message=result.summary, type="fail")
        return "failures"
    if result.status is Status.ERROR:
        _el(case, "error", result.summary, message=result.summary, type="error")
        return "errors"
    if result.status in (Status.SKIP, Status.MANUAL):
        _el(case, "skipped", message=f"{result.status.value}: {result.summary}")
        return "skipped"
    if result.status is Status.WARN or result.findings:
        _el(case, "system-out", f"{result.status.value}: {_details(result)}")
    return "passed"


def _suite(root: ET.Element, name: str, timestamp: str) -> ET.Element:
    return _el(root, "testsuite", name=name, timestamp=timestamp, time="0")


def _count(suite: ET.Element, outcomes: list[str]) -> dict[str, int]:
    counts = {"tests": len(outcomes), **{k: outcomes.count(k) for k in ("failures", "errors", "skipped")}}
    for key, value in counts.items():
        suite.set(key, str(value))
    return counts


def to_junit(report: Report) -> str:
    root = ET.Element("testsuites", name="perfcheck", time=f"{report.duration_s:.3f}")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    timestamp = report.created_at[:19]  # JUnit's timestamp has no zone

    def add(counts: dict[str, int]) -> None:
        for key in totals:
            totals[key] += counts[key]

    categories = list(dict.fromkeys(r.category for r in report.checks))
    titles = {c.id: c for c in report.categories}
    for category in categories:
        suite = _suite(root, category, timestamp)
        cat = titles.get(category)
        if cat is not None:
            props = _el(suite, "properties")
            _el(props, "property", name="score", value="" if cat.score is None else str(cat.score))
        add(_count(suite, [_case(suite, r) for r in report.checks if r.category == category]))

    comp = comparison.of(report)
    if comp is not None:
        suite = _suite(root, "baseline", timestamp)
        outcomes = []
        for change in comp.regressions:
            case = _el(suite, "testcase", classname="perfcheck.baseline", name=f"regression: {change.key}", time="0")
            _el(case, "failure", change.message, message=change.message, type="regression")
            outcomes.append("failures")
        for change in comp.muted:
            case = _el(suite, "testcase", classname="perfcheck.baseline", name=f"regression: {change.key}", time="0")
            _el(case, "skipped", message=f"accepted (muted): {change.muted}; {change.message}")
            outcomes.append("skipped")
        if not outcomes:
            _el(suite, "testcase", classname="perfcheck.baseline", name="no regressions against the baseline", time="0")
            outcomes.append("passed")
        add(_count(suite, outcomes))
    if report.gate is not None:
        suite = _suite(root, "gate", timestamp)
        case = _el(suite, "testcase", classname="perfcheck.gate", name="perfcheck gate", time="0")
        failures = report.gate.get("failures") or []
        if failures:
            _el(case, "failure", "\n".join(failures), message=failures[0], type="gate")
        if report.gate.get("warnings"):
            _el(case, "system-out", "\n".join(report.gate["warnings"]))
        add(_count(suite, ["failures" if failures else "passed"]))

    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
