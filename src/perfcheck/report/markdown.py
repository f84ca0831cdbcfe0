"""The Markdown view: for a pull-request comment or $GITHUB_STEP_SUMMARY.

A summary table and the gate first, then the regressions (when --baseline was given),
then the failing checks with their findings and fixes, and the rest folded. It stays
under 1 MiB (GitHub's job-summary limit): sections that don't fit are left out with a note.
"""

from __future__ import annotations

from perfcheck.model import CheckResult, Report, Status
from perfcheck.report import comparison
from perfcheck.report.text import md_block, md_code, md_text, score_text

LIMIT_BYTES = 1024 * 1024
MAX_FINDINGS = 25
_STATUS = {Status.PASS: "✅", Status.WARN: "⚠️", Status.FAIL: "❌", Status.ERROR: "❗", Status.SKIP: "⏭️", Status.MANUAL: "📝"}


def _dot(score: int | None) -> str:
    if score is None:
        return "⚪"
    return "🟢" if score >= 90 else "🟡" if score >= 50 else "🔴"


def _summary(report: Report) -> str:
    gate = report.gate
    verdict = "" if gate is None else (" · gate passed ✅" if gate.get("passed") else " · gate failed ❌")
    out = [f"# perfcheck: {score_text(report.score)}/100{verdict}", "", "| Category | Score | Checks judged |", "|---|---:|---:|"]
    for cat in report.categories:
        unknown = f" ({cat.errors} unknown)" if cat.errors else ""
        out.append(f"| {_dot(cat.score)} {md_text(cat.title)} | {score_text(cat.score)} | {cat.judged}{unknown} |")
    counts = ", ".join(f"{sum(1 for r in report.checks if r.status is s)} {s.value}" for s in Status
                       if any(r.status is s for r in report.checks))
    out += ["", f"Checks: {counts}."]
    for error in report.errors:
        out.append(f"\n> ❗ {md_text(error)}")
    for note in report.notes:
        out.append(f"\n> ℹ️ {md_text(note)}")
    if gate:
        for failure in gate.get("failures", []):
            out.append(f"- **gate:** {md_text(failure)}")
        for warning in gate.get("warnings", []):
            out.append(f"- warning: {md_text(warning)}")
    return "\n".join(out) + "\n"


def _check(result: CheckResult) -> str:
    score = "" if result.score is None else f" · score {round(result.score * 100)}"
    muted = f" · muted: {md_text(result.muted)}" if result.muted else ""
    out = [f"### {_STATUS[result.status]} {md_code(result.id)} {md_text(result.title)}{score}{muted}", "",
           md_text(result.summary), ""]
    for finding in result.findings[:MAX_FINDINGS]:
        note = f" *(muted: {md_text(finding.muted)})*" if finding.muted else ""
        out.append(f"- **{finding.severity}** {md_code(finding.object)}: {md_text(finding.message)}{note}")
        if finding.fix:
            label = "fix" if finding.fix.applicability.value == "safe" else f"fix ({finding.fix.applicability.value})"
            out += [f"  {label}:", "", "  " + md_block(finding.fix.text, "sql").replace("\n", "\n  "), ""]
    if len(result.findings) > MAX_FINDINGS:
        out.append(f"- … and {len(result.findings) - MAX_FINDINGS} more findings (see the JSON report)")
    return "\n".join(out) + "\n"


def _rest(checks: list[CheckResult]) -> str:
    out = [f"<details><summary>Other checks ({len(checks)})</summary>", "", "| | Check | Summary |", "|---|---|---|"]
    for result in checks:
        out.append(f"| {_STATUS[result.status]} | {md_code(result.id, in_table=True)} | {md_text(result.summary)} |")
    return "\n".join(out) + "\n\n</details>\n"


def to_markdown(report: Report, *, limit: int = LIMIT_BYTES) -> str:
    sections = [_summary(report)]
    comp = comparison.of(report)
    if comp is not None:
        sections.append(comparison.to_markdown(comp))
    order = {Status.FAIL: 0, Status.ERROR: 1, Status.WARN: 2}
    problems = sorted((r for r in report.checks if r.status in order),
                      key=lambda r: (order[r.status], r.score if r.score is not None else 0))
    if problems:
        sections.append("## Checks to fix\n")
        sections += [_check(r) for r in problems]
    rest = [r for r in report.checks if r.status not in order]
    if rest:
        sections.append(_rest(rest))
    footer = (f"\n<sub>perfcheck {md_text(report.version)} · {md_text(report.created_at)} · "
              f"{report.duration_s:.1f} s</sub>\n")

    out: list[str] = []
    used = len(footer.encode())
    for i, section in enumerate(sections):
        size = len(section.encode()) + 1
        note = f"\n> ✂️ Truncated: {len(sections) - i} more section(s) left out to stay under {limit // 1024} KiB; see the JSON or HTML report.\n"
        if used + size + len(note.encode()) > limit and i > 0:
            out.append(note)
            break
        out.append(section)
        used += size
    text = "\n".join(out) + footer
    if len(text.encode()) > limit:  # one section alone was too big: cut it, on a character boundary
        note = "\n\n> ✂️ Truncated to stay under the size limit; see the JSON or HTML report.\n"
        text = text.encode()[: limit - len(note.encode())].decode(errors="ignore") + note
    return text
