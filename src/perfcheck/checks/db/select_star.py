"""`db.select_star`: Queries fetch only the columns they need."""

from __future__ import annotations

from collections import defaultdict

from perfcheck.checks.support.pg import Catalog, penalty, short_sql, unless_hidden
from perfcheck.checks.support.workload import HIDDEN_TEXTS, Row, hidden_repeated, repeated_statements, tables_of
from perfcheck.model import Finding
from perfcheck.pg.names import qualified
from perfcheck.registry import Outcome, check
from perfcheck.units import format_bytes

_WIDE_TYPES = ("text", "json", "jsonb", "bytea", "xml", "character varying", "tsvector")


@check("db.select_star", requires=["postgres.statements", "postgres.columns", "postgres.server"])
def select_star(facts, t):
    hidden = hidden_repeated(facts["postgres.statements"], t["min_calls"])
    return unless_hidden(_select_star(facts, t), len(hidden), HIDDEN_TEXTS, facts)


def row_bytes(columns: list[Row]) -> tuple[int | None, int]:
    """(bytes a SELECT * reads per row, of which out of line in TOAST), from pg_stats'
    avg_width (a TOASTed value counts there as its pointer) and the TOAST table's size per
    row; None when a variable-width column has no statistics yet (never ANALYZEd)."""
    total = 0
    for column in columns:
        width = column.get("avg_width")
        if width is None:
            typlen = column.get("typlen")
            if typlen is None or typlen < 0:
                return None, 0
            width = typlen
        total += width
    first = columns[0] if columns else {}
    toast = (first.get("toast_bytes") or 0) // max(1, first.get("table_rows") or 0) if first.get("toast_bytes") else 0
    return total + toast, toast


def _too_much(columns: list[Row], t) -> tuple[bool, int | None, int]:
    """Whether SELECT * on this table fetches too much: min_columns or more columns (wider
    than the code needs, no index-only scan), or min_row_bytes or more a row however few
    its columns (a few wide text or TOASTed columns)."""
    fetched, toast = row_bytes(columns)
    return len(columns) >= t["min_columns"] or (fetched or 0) >= t["min_row_bytes"], fetched, toast


def _select_star(facts, t) -> Outcome:
    tables = tables_of(facts["postgres.columns"])
    catalog = Catalog(tables)
    hits: dict[tuple[str, str], list[Row]] = defaultdict(list)
    sizes: dict[tuple[str, str], tuple[int | None, int]] = {}
    for row, sh in repeated_statements(facts["postgres.statements"], t["min_calls"], "*"):
        for ref in sh.star_tables:
            key = catalog.resolve(ref.schema, ref.name)
            if key is None:
                continue
            flagged, fetched, toast = _too_much(tables[key], t)
            if flagged:
                hits[key].append(row)
                sizes[key] = (fetched, toast)
    findings = []
    for key, rows in sorted(hits.items(), key=lambda kv: -sum(r["calls"] for r in kv[1])):
        findings.append(_finding(key, tables[key], rows, sizes[key], t))
    metrics = {"tables": len(findings), "calls": sum(f.evidence["calls"] for f in findings)}
    if not findings:
        return Outcome.passed(f"no statement called {t['min_calls']}+ times selects * from a table of "
                              f"{t['min_columns']}+ columns or whose rows are {format_bytes(t['min_row_bytes'])}+ wide",
                              metrics=metrics)
    return Outcome.scored(penalty(findings), f"SELECT * on {len(findings)} wide tables", metrics=metrics, findings=findings)


def _finding(key: tuple[str, str], columns: list[Row], rows: list[Row], size: tuple[int | None, int], t) -> Finding:
    wide = [c["name"] for c in columns if c["type"].startswith(_WIDE_TYPES) or c["type"].endswith("[]")]
    calls = sum(r["calls"] for r in rows)
    name = qualified(*key)
    worst = max(rows, key=lambda r: r["calls"])
    fetched, toast = size
    what = f"{len(columns)} columns, {len(wide)} of variable width"
    if fetched is not None:
        what += f", ~{format_bytes(fetched)} a row" + (f", {format_bytes(toast)} of it out of line (TOAST)" if toast else "")
    severity = "fail" if len(columns) >= t["min_columns"] or (fetched or 0) >= 4 * t["min_row_bytes"] else "warn"
    return Finding(
        severity, name,
        f"SELECT * on {name} ({what}) in {len(rows)} statements, {calls:,} calls, e.g. {short_sql(worst['query'], 100)}: "
        f"name only the columns the code reads (fewer bytes read and sent, index-only scans possible)",
        None, {"columns": len(columns), "variable_width_columns": len(wide), "calls": calls, "statements": len(rows),
               "row_bytes": fetched, "toast_bytes_per_row": toast, "queryids": [r["queryid"] for r in rows[:10]]})
