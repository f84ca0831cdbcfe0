"""What `perfcheck apply-indexes --drop` prints and writes: the plan (what it would drop and
why, the CREATE INDEX that restores each, what it keeps and why), a line per drop, and
the migration file. Plain text; no I/O."""

from __future__ import annotations

from datetime import datetime, timezone

from perfcheck.apply.drop import DropOutcome, DropResult
from perfcheck.apply.drop_plan import DropItem, DropPlan
from perfcheck.units import format_bytes


def _about(item: DropItem) -> str:
    size = f", {format_bytes(item.size_bytes)}" if item.size_bytes else ""
    return f"{item.qualified} on {item.table} ({item.source}{size})"


def plan_text(plan: DropPlan, target: str) -> str:
    lines = [f"{len(plan.drops)} index(es) to drop in {target}, {len(plan.kept)} kept"]
    for number, item in enumerate(plan.drops, 1):
        lines.append("")
        lines.append(f"{number}. {_about(item)}")
        lines.append(f"   why: {item.why}")
        if item.partitioned:
            lines.append("   a partitioned table's index: a plain DROP INDEX, which locks the table and its partitions "
                         "(ACCESS EXCLUSIVE) while it runs")
        lines.append(f"   {item.statement};")
        lines.append(f"   restore: {item.restore};")
    if plan.kept:
        lines.append("")
        lines.append("kept:")
        for item in plan.kept:
            lines.append(f"  = {_about(item)}: {item.keep}")
    if plan.notes:
        lines.append("")
        lines += [f"note: {note}" for note in plan.notes]
    return "\n".join(lines) + "\n"


_MARKS = {"dropped": "✔ dropped", "gone": "= gone", "skipped": "✖ skipped", "failed": "✖ failed",
          "interrupted": "✖ interrupted", "not started": "- not started"}


def outcome_line(outcome: DropOutcome) -> str:
    item = outcome.item
    line = f"{_MARKS[outcome.status]} {item.qualified} on {item.table}"
    if outcome.message:
        line += f": {outcome.message}"
    if outcome.status == "dropped":
        line += f"\n    restore: {item.restore};"
    return line


def result_text(result: DropResult) -> str:
    lines = [outcome_line(o) for o in result.outcomes]
    counts: dict[str, int] = {}
    for outcome in result.outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    summary = ", ".join(f"{counts[s]} {s}" for s in _MARKS if counts.get(s))
    if result.interrupted:
        done = [o.item.qualified for o in result.outcomes if o.ok]
        undone = [o.item.qualified for o in result.outcomes if not o.ok]
        lines.append(f"interrupted: dropped: {', '.join(done) or 'nothing'}; not dropped: {', '.join(undone) or 'nothing'}")
    lines.append(f"summary: {summary or 'nothing to do'}")
    return "\n".join(lines) + "\n"


def migration_text(plan: DropPlan, source: str = "") -> str:
    """A migration that drops the plan's indexes; the statements that restore them are its
    down part, as comments."""
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    lines = [
        f"-- Indexes perfcheck apply-indexes --drop found safe to drop, {stamp}{' for ' + source if source else ''}.",
        "-- DROP INDEX CONCURRENTLY cannot run inside a transaction block: run this file without a",
        "-- wrapping transaction (psql -f, or mark the migration non-transactional).",
        "-- If a drop is cancelled half way the index is left INVALID: run the file again to finish.",
        "SET lock_timeout = '10s';",
        "",
    ]
    if not plan.drops:
        lines.append("-- Nothing to drop.")
    for item in plan.drops:
        lines.append(f"-- {_about(item)}: {item.why}")
        if item.partitioned:
            lines.append("-- a partitioned table's index: this plain DROP INDEX locks the table while it runs")
        lines.append(f"{item.statement};")
        lines.append("")
    for item in plan.kept:
        lines.append(f"-- kept: {_about(item)}: {item.keep}")
    lines += [f"-- note: {note}" for note in plan.notes]
    lines += ["", "-- Down: the statements that restore what this migration drops."]
    lines += [f"-- {item.restore};" for item in plan.drops]
    return "\n".join(lines).rstrip() + "\n"
