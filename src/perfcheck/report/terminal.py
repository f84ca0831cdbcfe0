"""The terminal view: scores at the top, then what failed and warned with findings and
fixes, then every passing check folded into one line."""

from __future__ import annotations

import io

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from perfcheck.gate.baseline import Comparison
from perfcheck.model import CheckResult, Report, Status
from perfcheck.report import comparison, latency_view

_STYLE = {
    Status.PASS: ("✔", "green"), Status.WARN: ("▲", "yellow"), Status.FAIL: ("✖", "red"),
    Status.ERROR: ("!", "magenta"), Status.SKIP: ("-", "dim"), Status.MANUAL: ("?", "cyan"),
}
MAX_FINDINGS = 10
FOLD_SKIPS_AT = 3


def score_style(score: int | None) -> str:
    if score is None:
        return "magenta"
    return "green" if score >= 90 else "yellow" if score >= 50 else "red"


def _score_text(score: int | None) -> str:
    return "?" if score is None else str(score)


def _header(report: Report) -> Table:
    grid = Table.grid(padding=(0, 3))
    grid.add_row(Text.assemble(("perfcheck ", "bold"),
                               (_score_text(report.score), f"bold {score_style(report.score)}"), "/100"))
    cats = []
    for cat in report.categories:
        if cat.score is None and not cat.errors:  # every check in it skipped: nothing was audited
            cats.append(Text.assemble((cat.title, "bold dim"), (" not audited", "dim")))
            continue
        label = Text.assemble((cat.title, "bold"), " ", (_score_text(cat.score), score_style(cat.score)))
        if cat.errors:
            label.append(f" ({cat.errors} unknown)", "magenta")
        cats.append(label)
    for label in cats:
        grid.add_row(label)
    return grid


def _check_block(result: CheckResult) -> Group:
    mark, color = _STYLE[result.status]
    score = "" if result.score is None else f"  score {round(result.score * 100)}"
    muted = f"  (muted: {result.muted})" if result.muted else ""
    lines: list = [Text.assemble((f"{mark} {result.id}", f"bold {color}"), "  ", (result.title, "bold"), (score, "dim"), (muted, "dim")),
                   Text("  " + result.summary)]
    lines += latency_view.lines(result)  # api.latency: percentiles per endpoint, a histogram
    for finding in result.findings[:MAX_FINDINGS]:
        sev_color = {"fail": "red", "warn": "yellow"}.get(finding.severity, "dim")
        lines.append(Text.assemble("  • ", (finding.object, f"bold {sev_color}"), ": ", finding.message,
                                   (f"  (muted: {finding.muted})" if finding.muted else "", "dim")))
        if finding.fix:
            label = "fix" if finding.fix.applicability.value == "safe" else f"fix ({finding.fix.applicability.value})"
            for i, statement in enumerate(finding.fix.statements):
                lines.append(Text.assemble("      ", (f"{label}: " if i == 0 else " " * (len(label) + 2), "dim"), (statement, "cyan")))
    if len(result.findings) > MAX_FINDINGS:
        lines.append(Text(f"  … and {len(result.findings) - MAX_FINDINGS} more (see --format json)", "dim"))
    return Group(*lines)


def _print_folded(console: Console, results: list[CheckResult]) -> None:
    """Passing and manual checks one line each; skips that share a reason (a target not
    configured) folded into one line, so that what was judged stays in view."""
    skipped: dict[str, list[str]] = {}
    for result in results:
        if result.status is Status.SKIP:
            skipped.setdefault(result.summary, []).append(result.id)
            continue
        mark, style = _STYLE[result.status]
        console.print(Text.assemble((f"{mark} {result.id:<22}", style), " ",
                                    (result.summary, "dim" if result.status is not Status.PASS else "")))
        for line in latency_view.lines(result):  # the latency table shows even when it passes
            console.print(line)
    mark, style = _STYLE[Status.SKIP]
    for reason, ids in skipped.items():
        if len(ids) < FOLD_SKIPS_AT:
            for check_id in ids:
                console.print(Text.assemble((f"{mark} {check_id:<22}", style), " ", (reason, "dim")))
        else:
            console.print(Text.assemble((f"{mark} {len(ids)} checks skipped: ", style), (reason, "dim")))
            console.print(Text("  " + ", ".join(ids), "dim"))


def to_text(report: Report, *, color: bool = False, width: int = 100) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=color, no_color=not color, width=width, highlight=False)
    console.print(Panel(_header(report), expand=False))
    for error in report.errors:
        console.print(Text(f"! {error}", "magenta"))
    if report.baseline is not None:  # perfcheck audit --baseline: the regressions come first
        console.print()
        console.print(comparison.rich_block(Comparison.from_dict(report.baseline)))
    problems = [r for r in report.checks if r.status in (Status.FAIL, Status.WARN, Status.ERROR)]
    order = {Status.FAIL: 0, Status.ERROR: 1, Status.WARN: 2}
    for result in sorted(problems, key=lambda r: (order[r.status], r.score if r.score is not None else 0)):
        console.print()
        console.print(_check_block(result))
    rest = [r for r in report.checks if r.status not in order]
    if rest:
        console.print()
        _print_folded(console, rest)
    counts = {s: sum(1 for r in report.checks if r.status is s) for s in Status}
    console.print()
    console.print(Text(", ".join(f"{n} {s.value}" for s, n in counts.items() if n) + f" · {report.duration_s:.1f}s", "dim"))
    return buffer.getvalue()
