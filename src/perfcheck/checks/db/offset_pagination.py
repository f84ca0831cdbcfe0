"""`db.offset_pagination`: Lists page by cursor, not OFFSET."""

from __future__ import annotations

from perfcheck.checks.support.pg import penalty, statement_object, unless_hidden
from perfcheck.checks.support.workload import HIDDEN_TEXTS, hidden_repeated, repeated_statements, rows_per_call
from perfcheck.model import Finding, Fix
from perfcheck.pg.names import quote_ident
from perfcheck.registry import Outcome, check


def _keyset(order_by: tuple[tuple[str, bool], ...]) -> str:
    columns = [c for c, _ in order_by]
    directions = {desc for _, desc in order_by}
    if not columns or "<expression>" in columns or len(directions) > 1:
        return "-- page by the last row seen: WHERE (sort columns) > (last values) ORDER BY sort columns LIMIT $n"
    desc = directions.pop()
    cols = ", ".join(quote_ident(c) for c in columns)
    last = ", ".join(f"${i + 1}" for i in range(len(columns)))
    op = "<" if desc else ">"
    where = f"{cols} {op} {last}" if len(columns) == 1 else f"({cols}) {op} ({last})"
    order = ", ".join(f"{quote_ident(c)}{' DESC' if desc else ''}" for c in columns)
    return f"… WHERE {where} ORDER BY {order} LIMIT ${len(columns) + 1}"


@check("db.offset_pagination", requires=["postgres.statements", "postgres.server"])
def offset_pagination(facts, t):
    hidden = hidden_repeated(facts["postgres.statements"], t["min_calls"])
    return unless_hidden(_offset_pagination(facts, t), len(hidden), HIDDEN_TEXTS, facts)


def _offset_pagination(facts, t) -> Outcome:
    findings = []
    for row, sh in repeated_statements(facts["postgres.statements"], t["min_calls"], "offset"):
        if sh.paging is None:
            continue
        rows = max(1.0, rows_per_call(row))
        blocks = ((row.get("shared_blks_hit") or 0) + (row.get("shared_blks_read") or 0)) / max(1, row["calls"])
        per_row = blocks / rows
        deep = per_row >= t["max_blocks_per_row"] or row["mean_ms"] > t["mean_ms"]
        note = "" if sh.paging.order_by else " (and without ORDER BY the pages are in no defined order)"
        findings.append(Finding(
            "fail" if deep else "warn", statement_object(row),
            f"OFFSET pagination, {row['calls']:,} calls: each page reads and discards the rows before it "
            f"({blocks:.0f} buffer pages per call for {rows:.0f} rows returned, mean {row['mean_ms']:.1f} ms){note}; "
            f"page by the last row seen instead (keyset), with an index on the sort columns",
            Fix.manual(_keyset(sh.paging.order_by)),
            {"queryid": row["queryid"], "calls": row["calls"], "mean_ms": round(row["mean_ms"], 3),
             "rows_per_call": round(rows, 1), "blocks_per_call": round(blocks, 1),
             "blocks_per_row": round(per_row, 2)}))
    findings.sort(key=lambda f: (f.severity != "fail", -f.evidence["calls"]))
    metrics = {"statements": len(findings), "deep": sum(1 for f in findings if f.severity == "fail")}
    if not findings:
        return Outcome.passed(f"no statement called {t['min_calls']}+ times pages with OFFSET", metrics=metrics)
    return Outcome.scored(penalty(findings), f"{len(findings)} statements page with OFFSET "
                                             f"({metrics['deep']} read far more than they return)",
                          metrics=metrics, findings=findings)
