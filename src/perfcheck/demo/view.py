"""`perfcheck demo --fix`'s before → after view: the overall and category scores, the
checks whose status changed, the slowest statements' mean time (pg_stat_statements) and
the API's P50/P95/P99 per endpoint (api.latency), side by side."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from rich.table import Table
from rich.text import Text

from perfcheck.demo.why import worse
from perfcheck.model import Report
from perfcheck.report.console import Display, hanging
from perfcheck.report.terminal import score_style, statement_key

SLOWEST = 5  # statements shown


@dataclass
class Snapshot:
    report: Report
    statements: list[dict[str, Any]]
    workload: Any  # the workload's result (its own percentiles are the fallback for api.latency)

    def latency(self) -> dict[str, dict[str, float | None]]:
        """P50/P95/P99 per endpoint from api.latency; the workload's when that check did not run."""
        try:
            result = self.report.check("api.latency")
        except KeyError:
            result = None
        endpoints = (result.metrics.get("endpoints") if result and result.status.judged else None) or {}
        if endpoints:
            return {name: {q: m.get(f"{q}_ms") for q in ("p50", "p95", "p99")} for name, m in endpoints.items()
                    if isinstance(m, dict)}
        w = self.workload
        return {f"{name} (workload)": {f"p{q}": w.percentile(q, name) for q in (50, 95, 99)}
                for name in sorted(w.latencies_ms)}


def _print_changes(console: Any, before: Report, after: Report) -> None:
    """The checks whose status changed, those left with fewer findings, and why a score fell."""
    changed, fewer = [], []
    for result in before.checks:
        try:
            later = after.check(result.id)
        except KeyError:
            continue
        if later.status is not result.status:
            changed.append(f"{result.id} {result.status.value} → {later.status.value}")
        elif len(later.findings) < len(result.findings):  # the same status, fewer problems (an index answers two checks)
            fewer.append(f"{result.id} {len(result.findings)} → {len(later.findings)}")
    if changed:
        console.print()
        console.print(hanging("checks that changed: ", ", ".join(changed)))
    if fewer:
        console.print(hanging("fewer findings: ", ", ".join(fewer)))
    reasons = worse(before, after)
    if reasons:
        console.print()
        console.print(Text("Why some scores fell", style="bold"))
        for line in reasons:
            console.print(hanging("  • ", line))


def _recommended_by(report: Report) -> dict[str, list[str]]:
    """Each fix statement of the report, and the checks that recommend it (an index may
    answer db.missing_indexes and db.fk_indexes at once)."""
    found: dict[str, list[str]] = {}
    for result in report.checks:
        for finding in result.findings:
            for statement in finding.fix.statements if finding.fix else ():
                ids = found.setdefault(statement_key(statement), [])
                if result.id not in ids:
                    ids.append(result.id)
    return found


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    return f"{value:.2f} ms" if value < 1 else f"{value:.1f} ms"


def _pair(before: float | None, after: float | None) -> str:
    """"92.4 → 4.4 ms": before → after in one unit, written once."""
    if before is None or after is None:
        return f"{_ms(before)} → {_ms(after)}"
    if max(before, after) >= 1000:
        return f"{before / 1000:.2f} → {after / 1000:.2f} s"
    return f"{before:.1f} → {after:.1f} ms"


def _change(before: float | None, after: float | None) -> str:
    if before is None or after is None or before <= 0:
        return ""
    # Times: "137× faster" for big wins, else the change in percent with its direction spelled out.
    if after <= before:
        return f"{before / after:.0f}× faster" if after > 0 and before / after >= 2 else f"{(1 - after / before) * 100:.0f}% faster"
    return f"{(after / before - 1) * 100:.0f}% slower"


def comparison(before: Snapshot, after: Snapshot, built: list[str], *, color: bool = False, width: int = 110,
               display: Display | None = None) -> str:
    display = display or Display.plain(width, color)
    buffer = io.StringIO()
    console = display.console(buffer)
    console.print(Text("perfcheck demo --fix: before → after", style="bold"))
    if built:
        console.print(Text(f"{len(built)} index(es) built with apply-indexes:", style="dim"))
        answered = _recommended_by(before.report)
        for statement in built:  # whole on its line, then the checks whose findings it answers
            by = answered.get(statement_key(statement), [])
            console.print(Text.assemble(("  " + statement, "cyan"), (f"  ({', '.join(by)})" if by else "", "dim")),
                          soft_wrap=True)

    def cell(value: int | None) -> Text:
        return Text("?" if value is None else str(value), style=score_style(value))

    scores = Table("score", "before", "after", box=None, pad_edge=False)
    scores.add_row("overall", cell(before.report.score), cell(after.report.score))
    for cat in before.report.categories:
        try:
            later = after.report.category(cat.id).score
        except KeyError:
            later = None
        scores.add_row(cat.title, cell(cat.score), cell(later))
    console.print()
    console.print(scores)

    _print_changes(console, before.report, after.report)

    by_id = {row["queryid"]: row for row in after.statements}
    # One line a statement at any width: the text is cut short (…), never the figures.
    slow = Table("slowest statements", "calls", "mean before", "mean after", "",
                 box=None, pad_edge=False)
    slow.columns[0].no_wrap, slow.columns[0].overflow = True, "ellipsis"
    slow.columns[0].max_width = max(24, display.width - 48)  # the figures take the rest (pg_stat_statements means)
    for column in slow.columns[1:]:
        column.no_wrap = True
    for row in before.statements[:SLOWEST]:
        later = by_id.get(row["queryid"])
        text = row["query"] if len(row["query"]) <= 60 else row["query"][:59] + "…"
        slow.add_row(text, str(row["calls"]), _ms(row["mean_ms"]), _ms(later["mean_ms"] if later else None),
                     _change(row["mean_ms"], later["mean_ms"] if later else None))
    console.print()
    console.print(slow)

    lat_before, lat_after = before.latency(), after.latency()
    lat = Table("API latency", "P50", "P95", "P99", "P95 change", box=None, pad_edge=False)
    for column in lat.columns[1:]:  # one line an endpoint: the name wraps, the figures never
        column.no_wrap = True
    for name, b in lat_before.items():
        a = lat_after.get(name, {})
        lat.add_row(name, *(_pair(b.get(q), a.get(q)) for q in ("p50", "p95", "p99")),
                    _change(b.get("p95"), a.get("p95")))
    console.print()
    console.print(lat)
    return display.finish(buffer.getvalue())
