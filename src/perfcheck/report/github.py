"""GitHub Actions annotations: workflow-command lines (`::error title=…::message`) that
show on the run's summary page and the pull request. Printed automatically when
GITHUB_ACTIONS=true, or as `--format github`.

Regressions come first, then failing checks, then warnings: GitHub shows only the first
few annotations of each level per step, so the most useful go first. Muted findings
are left out. The `file` property points at the config file when one was used, so the
annotation links to where a threshold, an assertion or a mute would be changed.
"""

from __future__ import annotations

from perfcheck.model import Report, Status
from perfcheck.gate.mutes import accepted
from perfcheck.report import comparison

MAX_LINES = 50


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def _line(level: str, title: str, message: str, file: str | None) -> str:
    props = ([f"file={_prop(file)}"] if file else []) + [f"title={_prop(title)}"]
    return f"::{level} {','.join(props)}::{_data(message)}"


def annotations(report: Report, *, file: str | None = None) -> list[str]:
    lines = []
    comp = comparison.of(report)
    if comp is not None:
        lines += [_line("error", f"perfcheck regression: {c.check}", c.message, file) for c in comp.regressions]
    for level, status in (("error", Status.FAIL), ("warning", Status.ERROR), ("warning", Status.WARN)):
        for result in report.checks:
            if result.status is not status or accepted(result):
                continue
            findings = [f for f in result.findings if not f.muted and f.severity in ("warn", "fail")]
            detail = "; ".join(f"{f.object}: {f.message}" for f in findings[:5])
            more = f" (and {len(findings) - 5} more)" if len(findings) > 5 else ""
            message = f"{result.summary}. {detail}{more}" if detail else result.summary
            lines.append(_line(level, f"perfcheck {result.id}: {result.title}", message, file))
    if report.gate is not None and not report.gate.get("passed", True):
        lines.append(_line("error", "perfcheck gate failed", "; ".join(report.gate.get("failures", [])), file))
    if len(lines) > MAX_LINES:
        lines = lines[:MAX_LINES - 1] + [_line("notice", "perfcheck", f"{len(lines) - MAX_LINES + 1} more annotations left out; see the report", file)]
    return lines


def to_github(report: Report, *, file: str | None = None) -> str:
    lines = annotations(report, file=file)
    return "\n".join(lines) + "\n" if lines else ""
