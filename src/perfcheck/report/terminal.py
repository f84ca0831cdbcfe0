"""The terminal view: scores at the top, then what failed and warned with findings and
fixes, then every passing check folded into one line.

Lines wrap at the display's width with a hanging indent, never inside a word; a fix
statement (SQL, a config line) is never wrapped, so it can be copied whole, even when it
runs past the width. `detail`: quiet (the score line and failures), normal, verbose (every
check, passes included, with its figures)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any, Iterator

from rich.console import Console, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from perfcheck.gate.baseline import Comparison
from perfcheck.model import CheckResult, Report, Status
from perfcheck.report import comparison, latency_view
from perfcheck.report.console import Display, hanging

_STYLE = {
    Status.PASS: ("✔", "green"), Status.WARN: ("▲", "yellow"), Status.FAIL: ("✖", "red"),
    Status.ERROR: ("!", "magenta"), Status.SKIP: ("-", "dim"), Status.MANUAL: ("?", "cyan"),
}
MAX_FINDINGS = 10
FOLD_SKIPS_AT = 3
MAX_FIGURES = 12
PROBLEM_ORDER = {Status.FAIL: 0, Status.ERROR: 1, Status.WARN: 2}

# What a block yields: a renderable, and whether it is a fix statement (printed whole).
Item = tuple[RenderableType, bool]


def score_style(score: int | None) -> str:
    if score is None:
        return "magenta"
    return "green" if score >= 90 else "yellow" if score >= 50 else "red"


def _score_text(score: int | None) -> str:
    return "?" if score is None else str(score)


def _score_line(report: Report) -> Text:
    return Text.assemble(("perfcheck ", "bold"), (_score_text(report.score), f"bold {score_style(report.score)}"), "/100")


def _header(report: Report) -> Table:
    grid = Table.grid(padding=(0, 3))
    grid.add_row(_score_line(report))
    for cat in report.categories:
        if cat.score is None and not cat.errors:  # every check in it skipped: nothing was audited
            grid.add_row(Text.assemble((cat.title, "bold dim"), (" not audited", "dim")))
            continue
        label = Text.assemble((cat.title, "bold"), " ", (_score_text(cat.score), score_style(cat.score)))
        if cat.errors:
            label.append(f" ({cat.errors} unknown)", "magenta")
        grid.add_row(label)
    return grid


def statement_key(statement: str) -> str:
    """A fix statement as compared across checks: case, spacing and the final ; aside."""
    return " ".join(statement.strip().rstrip(";").lower().split())


def _fix_lines(finding: Any, check_id: str, shown: dict[str, str]) -> Iterator[Item]:
    """The fix, whole, one statement a line. A statement another check printed already (the
    same index from db.fk_indexes and db.missing_indexes) is printed once: here it refers
    back to it."""
    label = "fix" if finding.fix.applicability.value == "safe" else f"fix ({finding.fix.applicability.value})"
    keys = [statement_key(s) for s in finding.fix.statements]
    first = {shown[k] for k in keys if k in shown and shown[k] != check_id}
    if first and all(k in shown for k in keys):
        yield Text.assemble("      ", (f"{label}: ", "dim"),
                            (f"the same statement as under {', '.join(sorted(first))} above", "dim")), False
        return
    for i, statement in enumerate(finding.fix.statements):
        shown.setdefault(keys[i], check_id)
        lead = f"{label}: " if i == 0 else " " * (len(label) + 2)
        yield Text.assemble("      ", (lead, "dim"), (statement, "cyan"), no_wrap=True, overflow="ignore"), True


def _figures(result: CheckResult) -> Iterator[Item]:
    """--verbose: the check's measured figures, one `name: value` line each."""
    shown = [(k, v) for k, v in (result.metrics or {}).items() if not isinstance(v, (dict, list))]
    for key, value in shown[:MAX_FIGURES]:
        yield hanging("    ", Text.assemble((f"{key}: ", "dim"), f"{value}")), False
    if len(shown) > MAX_FIGURES:
        yield Text(f"    … and {len(shown) - MAX_FIGURES} more figures (see --format json)", "dim"), False


@dataclass
class _Seen:
    """What the blocks printed so far share: each fix statement printed and the check it was
    printed under; each configured endpoint name and its method and path (`home` → GET /)."""

    fixes: dict[str, str] = field(default_factory=dict)
    endpoints: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, report: Report) -> _Seen:
        seen = cls()
        for result in report.checks:
            endpoints = (result.metrics or {}).get("endpoints")
            for name, data in (endpoints.items() if isinstance(endpoints, dict) else ()):
                shown = latency_view.endpoint_label(name, data) if isinstance(data, dict) else name
                if shown != name:
                    seen.endpoints[name] = shown
        return seen


def _check_block(result: CheckResult, display: Display, seen: _Seen) -> Iterator[Item]:
    mark, color = _STYLE[result.status]
    score = "" if result.score is None else f"  score {round(result.score * 100)}"
    muted = f"  (muted: {result.muted})" if result.muted else ""
    yield hanging(Text(f"{mark} ", f"bold {color}"), Text.assemble(
        (result.id, f"bold {color}"), "  ", (result.title, "bold"), (score, "dim"), (muted, "dim"))), False
    yield hanging("  ", result.summary), False
    for renderable in latency_view.lines(result):  # api.latency: percentiles per endpoint, a histogram
        yield renderable, False
    if display.detail == "verbose":
        yield from _figures(result)
    for finding in result.findings[:MAX_FINDINGS]:
        sev_color = {"fail": "red", "warn": "yellow"}.get(finding.severity, "dim")
        shown = seen.endpoints.get(finding.object, finding.object) if result.target == "http" else finding.object
        yield hanging("  • ", Text.assemble((shown, f"bold {sev_color}"), ": ", finding.message,
                                            (f"  (muted: {finding.muted})" if finding.muted else "", "dim"))), False
        if finding.fix:
            yield from _fix_lines(finding, result.id, seen.fixes)
    if len(result.findings) > MAX_FINDINGS:
        yield Text(f"  … and {len(result.findings) - MAX_FINDINGS} more (see --format json)", "dim"), False


def _folded(results: list[CheckResult]) -> Iterator[Item]:
    """Passing and manual checks one line each; skips that share a reason (a target not
    configured) folded into one line, so that what was judged stays in view."""
    skipped: dict[str, list[str]] = {}
    for result in results:
        if result.status is Status.SKIP:
            skipped.setdefault(result.summary, []).append(result.id)
            continue
        mark, style = _STYLE[result.status]
        yield _id_line(mark, style, result.id, Text(result.summary, "dim" if result.status is not Status.PASS else "")), False
        for renderable in latency_view.lines(result):  # the latency table shows even when it passes
            yield renderable, False
    mark, style = _STYLE[Status.SKIP]
    for reason, ids in skipped.items():
        if len(ids) < FOLD_SKIPS_AT:
            for check_id in ids:
                yield _id_line(mark, style, check_id, Text(reason, "dim")), False
        else:
            yield hanging(Text(f"{mark} ", style), Text.assemble((f"{len(ids)} checks skipped: ", style), (reason, "dim"))), False
            yield hanging("  ", Text(", ".join(ids), "dim")), False


def _id_line(mark: str, style: str, check_id: str, text: Text) -> Table:
    """`✔ db.pool   summary…`: the summary's wrapped lines under its first word (under the id
    on a narrow terminal, where the id column would leave too little room)."""
    lead = Text(f"{mark} {check_id:<22} ", style)
    return hanging(lead, text) if lead.cell_len <= 30 else hanging(Text(f"{mark} ", style), Text.assemble((check_id, style), " ", text))


def _items(report: Report, display: Display) -> Iterator[Item | None]:
    """The report, top to bottom; None is a blank line."""
    if display.detail == "quiet":
        yield from _quiet_items(report, display)
        return
    yield Panel(_header(report), expand=False), False
    for error in report.errors:
        yield hanging(Text("! ", "magenta"), Text(error, "magenta")), False
    for note in report.notes:
        yield hanging(Text("i ", "dim"), Text(note, "dim")), False
    if report.baseline is not None:  # perfcheck audit --baseline: the regressions come first
        yield None
        yield comparison.rich_block(Comparison.from_dict(report.baseline)), False
    order = PROBLEM_ORDER if display.detail == "normal" else {**PROBLEM_ORDER, Status.PASS: 3}
    seen = _Seen.of(report)
    for result in sorted((r for r in report.checks if r.status in order),
                         key=lambda r: (order[r.status], r.score if r.score is not None else 0)):
        yield None
        yield from _check_block(result, display, seen)
    rest = [r for r in report.checks if r.status not in order]
    if rest:
        yield None
        yield from _folded(rest)
    counts = {s: sum(1 for r in report.checks if r.status is s) for s in Status}
    yield None
    yield Text(", ".join(f"{n} {s.value}" for s, n in counts.items() if n) + f" · {report.duration_s:.1f}s", "dim"), False


def _quiet_items(report: Report, display: Display) -> Iterator[Item | None]:
    """--quiet: the score line, then each failed check with its findings and fixes."""
    hidden = [f"{n} {s.value}" for s in (Status.WARN, Status.ERROR)
              if (n := sum(1 for r in report.checks if r.status is s))]
    line = _score_line(report)
    if hidden:
        line.append(f"  ({', '.join(hidden)} not shown: drop --quiet)", "dim")
    yield line, False
    for error in report.errors:
        yield hanging(Text("! ", "magenta"), Text(error, "magenta")), False
    seen = _Seen.of(report)
    for result in sorted((r for r in report.checks if r.status is Status.FAIL),
                         key=lambda r: r.score if r.score is not None else 0):
        yield from _check_block(result, display, seen)


def print_report(console: Console, report: Report, display: Display) -> None:
    for item in _items(report, display):
        if item is None:
            console.print()
        else:
            renderable, whole = item
            console.print(renderable, soft_wrap=whole, crop=not whole)


def to_text(report: Report, *, color: bool = False, width: int = 100, display: Display | None = None) -> str:
    display = display or Display.plain(width, color)
    buffer = io.StringIO()
    print_report(display.console(buffer), report, display)
    return display.finish(buffer.getvalue())
