"""The baseline comparison as people read it: a "Regressions" section for the terminal
and Markdown views, and the whole of `perfcheck compare`'s output."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Group
from rich.text import Text

from perfcheck.gate.baseline import Change, Comparison
from perfcheck.model import Report
from perfcheck.report.console import Display, hanging
from perfcheck.report.text import md_text

SECTIONS = (  # (attribute, heading, terminal style, mark)
    ("regressions", "Regressions against the baseline", "bold red", "✖"),
    ("muted", "Muted regressions, accepted in perfcheck.yaml", "dim", "~"),
    ("improvements", "Improvements", "green", "✔"),
    ("notes", "Not compared", "dim", "·"),
)
MAX_LISTED = 50


def of(report: Report) -> Comparison | None:
    return Comparison.from_dict(report.baseline) if report.baseline else None


def headline(comp: Comparison) -> str:
    score = "" if comp.baseline_score is None else f"; score {comp.baseline_score} → {comp.score if comp.score is not None else '?'}"
    when = f" from {comp.baseline_created_at}" if comp.baseline_created_at else ""
    if comp.regressions:
        return f"{len(comp.regressions)} regression(s) against the baseline{when}{score}"
    return f"no regressions against the baseline{when}{score}"


def _line(change: Change) -> str:
    return change.message + (f" (muted: {change.muted})" if change.muted else "")


def rich_block(comp: Comparison) -> Group:
    lines: list[Any] = [Text(headline(comp), "bold red" if comp.regressions else "bold green")]
    for attr, heading, style, mark in SECTIONS:
        changes: list[Change] = getattr(comp, attr)
        if not changes:
            continue
        lines.append(Text(f"{heading} ({len(changes)})", "bold"))
        for change in changes[:MAX_LISTED]:
            lines.append(hanging(f"  {mark} ", Text(_line(change), style if attr != "regressions" else "red")))
        if len(changes) > MAX_LISTED:
            lines.append(Text(f"  … and {len(changes) - MAX_LISTED} more (see --format json)", "dim"))
    return Group(*lines)


def to_text(comp: Comparison, *, color: bool = False, width: int = 100, display: Display | None = None) -> str:
    display = display or Display.plain(width, color)
    buffer = io.StringIO()
    display.console(buffer).print(rich_block(comp))  # wrapped at the width, each change under its mark
    return display.finish(buffer.getvalue())


def to_markdown(comp: Comparison, heading: str = "##") -> str:
    """The regressions in full, the rest folded, for a PR comment or a job summary."""
    out = [f"{heading} Regressions", "", f"**{md_text(headline(comp))}**", ""]
    if comp.regressions:
        out += [f"- ❌ {md_text(c.message)}" for c in comp.regressions[:MAX_LISTED]]
        if len(comp.regressions) > MAX_LISTED:
            out.append(f"- … and {len(comp.regressions) - MAX_LISTED} more (see the JSON report)")
        out.append("")
    for attr, title, _style, _mark in SECTIONS[1:]:
        changes: list[Change] = getattr(comp, attr)
        if not changes:
            continue
        out += [f"<details><summary>{title} ({len(changes)})</summary>", ""]
        out += [f"- {md_text(_line(c))}" for c in changes[:MAX_LISTED]]
        if len(changes) > MAX_LISTED:
            out.append(f"- … and {len(changes) - MAX_LISTED} more")
        out += ["", "</details>", ""]
    return "\n".join(out) + "\n"
