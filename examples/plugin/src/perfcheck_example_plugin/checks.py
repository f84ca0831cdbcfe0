"""example.wide_tables: tables with more columns than a team's convention allows.

A check is a pure function of the facts it `requires` (gathered once by perfcheck's
collectors, shared by every check) and its thresholds. It never connects to anything
itself. Its metadata goes in the decorator because it is not in perfcheck's checklist;
users override `thresholds` and `weight` in perfcheck.yaml like any built-in check's.
"""

from __future__ import annotations

from perfcheck.model import Finding
from perfcheck.registry import Outcome, check
from perfcheck.scoring import lognormal
from perfcheck.pg.names import qualified


@check(
    "example.wide_tables",
    requires=["postgres.tables"],
    category="database",
    target="postgres",
    title="Tables stay narrow",
    failure_title="Tables with too many columns",
    weight=1,
    thresholds={"max_columns": 30},
    why="Every row of a very wide table is read whole: queries that need three columns pay for forty, "
        "and the table outgrows the cache.",
    measured="The number of columns of each table (pg_attribute), from the tables perfcheck already reads.",
    how_to_fix="Move rarely read columns to a side table joined by primary key, or fetch named columns only.",
)
def wide_tables(facts, thresholds):
    limit = thresholds["max_columns"]
    tables = [t for t in facts["postgres.tables"] if t.get("kind", "r") in ("r", "p")]
    if not tables:
        return Outcome.skip("no tables to judge")
    wide = sorted((t for t in tables if (t.get("columns") or 0) > limit), key=lambda t: -t["columns"])
    findings = [
        Finding("warn", qualified(t["schema"], t["name"]),
                f"{t['columns']} columns (the convention is at most {limit}): move rarely read columns "
                f"to a side table", evidence={"columns": t["columns"], "max_columns": limit})
        for t in wide
    ]
    widest = max(t.get("columns") or 0 for t in tables)
    metrics = {"tables": len(tables), "wide_tables": len(wide), "widest": widest}
    if not wide:
        return Outcome.passed(f"{len(tables)} tables, none wider than {limit} columns (widest: {widest})",
                              metrics=metrics)
    # 0.9 at the limit, 0.5 at three times it (perfcheck's log-normal curve).
    return Outcome.scored(lognormal(widest, limit, limit * 3),
                          f"{len(wide)} of {len(tables)} tables have more than {limit} columns (widest: {widest})",
                          metrics=metrics, findings=findings)
