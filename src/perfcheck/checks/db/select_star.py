"""`db.select_star`: Queries fetch only the columns they need."""

from __future__ import annotations

from collections import defaultdict

from perfcheck.checks.support.pg import Catalog, penalty, short_sql, unless_hidden
from perfcheck.checks.support.workload import HIDDEN_TEXTS, Row, hidden_repeated, repeated_statements, tables_of
from perfcheck.model import Finding
from perfcheck.pg.names import qualified
from perfcheck.registry import Outcome, check

_WIDE_TYPES = ("text", "json", "jsonb", "bytea", "xml", "character varying", "tsvector")


@check("db.select_star", requires=["postgres.statements", "postgres.columns", "postgres.server"])
def select_star(facts, t):
    hidden = hidden_repeated(facts["postgres.statements"], t["min_calls"])
    return unless_hidden(_select_star(facts, t), len(hidden), HIDDEN_TEXTS, facts)


def _select_star(facts, t) -> Outcome:
    tables = tables_of(facts["postgres.columns"])
    catalog = Catalog(tables)
    hits: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row, sh in repeated_statements(facts["postgres.statements"], t["min_calls"], "*"):
        for ref in sh.star_tables:
            key = catalog.resolve(ref.schema, ref.name)
            if key and len(tables[key]) >= t["min_columns"]:
                hits[key].append(row)
    findings = []
    for key, rows in sorted(hits.items(), key=lambda kv: -sum(r["calls"] for r in kv[1])):
        columns = tables[key]
        wide = [c["name"] for c in columns if c["type"].startswith(_WIDE_TYPES) or c["type"].endswith("[]")]
        calls = sum(r["calls"] for r in rows)
        name = qualified(*key)
        worst = max(rows, key=lambda r: r["calls"])
        findings.append(Finding(
            "fail", name,
            f"SELECT * on {name} ({len(columns)} columns, {len(wide)} of variable width) in {len(rows)} statements, "
            f"{calls:,} calls, e.g. {short_sql(worst['query'], 100)}: name only the columns the code reads "
            f"(fewer bytes read and sent, index-only scans possible)",
            None, {"columns": len(columns), "variable_width_columns": len(wide), "calls": calls,
                   "statements": len(rows), "queryids": [r["queryid"] for r in rows[:10]]}))
    metrics = {"tables": len(findings), "calls": sum(f.evidence["calls"] for f in findings)}
    if not findings:
        return Outcome.passed(f"no statement called {t['min_calls']}+ times selects * from a table of "
                              f"{t['min_columns']}+ columns", metrics=metrics)
    return Outcome.scored(penalty(findings), f"SELECT * on {len(findings)} wide tables", metrics=metrics, findings=findings)
