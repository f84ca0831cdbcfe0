"""What `perfcheck apply-indexes` prints: the plan (what, why, estimated size, the
statements), a line per index applied, and the summary. Plain text; no I/O."""

from __future__ import annotations

from perfcheck.advisor.ddl import statements
from perfcheck.units import format_bytes
from perfcheck.advisor.model import Advice, Recommendation
from perfcheck.apply.build import ApplyResult, IndexOutcome, Leftover
from perfcheck.pg.names import qualified

QUERY_CHARS = 100


def _short(query: str) -> str:
    text = " ".join(query.split())
    return text if len(text) <= QUERY_CHARS else text[: QUERY_CHARS - 1] + "…"


def _cost(before: float, after: float | None) -> str:
    if after is None:
        return f"cost {before:.1f}"
    change = f" (−{1 - after / before:.0%})" if before > 0 and after < before else ""
    return f"cost {before:.1f} → {after:.1f}{change}"


def plan_text(advice: Advice, recs: list[Recommendation], target: str, unmatched: list[str] | None = None) -> str:
    how = "verified with HypoPG" if advice.verified else \
        "UNVERIFIED: HypoPG is not installed in this database, estimated from column statistics"
    lines = [f"{len(recs)} index(es) recommended for {target} ({how}; "
             f"{advice.statements_analysed} of {advice.statements_total} statements analysed"
             f"{', the time budget ran out' if advice.partial else ''})"]
    for name in unmatched or []:
        lines.append(f"  (no recommendation for the table {name})")
    for number, rec in enumerate(recs, 1):
        lines.append("")
        lines.append(f"{number}. {rec.label}: index {qualified(rec.schema, rec.name)}, estimated size "
                     f"{format_bytes(rec.size_bytes)}, table of {rec.table_rows:,} rows"
                     + (f" in {len(rec.partitions)} partitions" if rec.table_kind == "p" else ""))
        if advice.verified and not rec.verified:
            lines.append(f"   UNVERIFIED ({rec.unverified_reason}): --yes builds it only with --allow-unverified")
        if rec.btree_size_bytes:
            lines.append(f"   a BRIN, preferred to a btree of {format_bytes(rec.btree_size_bytes)} for at least half its gain at under 1% of its size")
        lines.append(f"   why: {len(rec.statements)} statement(s), {rec.calls:,} calls, {rec.total_ms:,.1f} ms in all; "
                     f"planner {_cost(rec.cost_before, rec.cost_after)}")
        for use in rec.statements[:5]:
            lines.append(f"     [queryid {use.queryid}] {_short(use.query)} "
                         f"({use.calls:,} calls × {use.mean_ms:.2f} ms, {_cost(use.cost_before, use.cost_after)})")
        if len(rec.statements) > 5:
            lines.append(f"     … and {len(rec.statements) - 5} more")
        for statement in statements(rec):
            lines.append(f"   {statement};")
    return "\n".join(lines) + "\n"


def leftovers_text(found: list[Leftover]) -> str:
    """INVALID indexes under the planned names: those --yes repairs, those it leaves alone."""
    lines = ["", "INVALID indexes under these names:"]
    for leftover in found:
        lines.append(f"  {'↻ would repair' if leftover.repairable else '✖ will not touch'}: {leftover.message}")
    return "\n".join(lines) + "\n"


_MARKS = {"built": "✔ built", "repaired": "✔ repaired", "exists": "= exists", "skipped": "✖ skipped", "held": "- held back",
          "failed": "✖ failed", "interrupted": "✖ interrupted", "not started": "- not started"}


def outcome_line(outcome: IndexOutcome) -> str:
    rec = outcome.rec
    line = f"{_MARKS[outcome.status]} {qualified(rec.schema, rec.name)} on {rec.label}"
    if outcome.message:
        line += f": {outcome.message}"
    if outcome.size_bytes is not None:
        line += f" ({format_bytes(outcome.size_bytes)})"
    if outcome.statements:
        line += f"\n    planner {_cost(outcome.cost_before, outcome.cost_after)} for {len(outcome.statements)} statement(s)"
        for cost in outcome.statements[:5]:
            line += f"\n      [queryid {cost.queryid}] {_cost(cost.cost_before, cost.cost_after)}"
    return line


def result_text(result: ApplyResult) -> str:
    lines = [outcome_line(o) for o in result.outcomes]
    counts: dict[str, int] = {}
    for outcome in result.outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    order = ["built", "repaired", "exists", "skipped", "held", "failed", "interrupted", "not started"]
    words = {"exists": "already existed", "held": "held back (unverified)"}
    summary = ", ".join(f"{counts[s]} {words.get(s, s)}" for s in order if counts.get(s))
    if result.interrupted:
        done = [qualified(o.rec.schema, o.rec.name) for o in result.outcomes if o.ok]
        undone = [qualified(o.rec.schema, o.rec.name) for o in result.outcomes if not o.ok]
        lines.append(f"interrupted: done: {', '.join(done) or 'nothing'}; not done: {', '.join(undone) or 'nothing'}")
    lines.append(f"summary: {summary or 'nothing to do'}")
    return "\n".join(lines) + "\n"
