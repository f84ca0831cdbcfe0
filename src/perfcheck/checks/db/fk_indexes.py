"""`db.fk_indexes`: Foreign keys are indexed."""

from __future__ import annotations

from collections import defaultdict

from perfcheck.checks.support.indexes import Index, covers_columns, partly_covers
from perfcheck.checks.support.pg import penalty
from perfcheck.model import Applicability, Finding, Fix
from perfcheck.pg.names import index_name, qualified, quote_ident
from perfcheck.registry import Outcome, check


def _free_index_name(taken: set[tuple[str, str]], schema: str, table: str, columns: list[str]) -> str:
    name = index_name(table, columns)
    suffix = 1
    while (schema, name) in taken:  # IF NOT EXISTS would silently keep an unrelated index
        suffix += 1
        name = index_name(table, columns, f"idx{suffix}")
    taken.add((schema, name))
    return name


@check("db.fk_indexes", requires=["postgres.foreign_keys", "postgres.indexes"])
def fk_indexes(facts, t):
    by_table: dict[tuple[str, str], list[Index]] = defaultdict(list)
    taken: set[tuple[str, str]] = set()
    for index in facts["postgres.indexes"]:
        by_table[(index["schema"], index["table"])].append(index)
        taken.add((index["schema"], index["name"]))
    findings = []
    small = 0
    fks = sorted(facts["postgres.foreign_keys"], key=lambda fk: (-fk["estimated_rows"], fk["schema"], fk["table"], fk["name"]))
    for fk in fks:
        attnums, names = set(fk["attnums"]), set(fk["columns"])
        indexes = by_table[(fk["schema"], fk["table"])]
        if any(covers_columns(index, attnums, names) for index in indexes):
            continue
        partial = next((index for index in indexes if partly_covers(index, attnums, names)), None)
        rows = fk["estimated_rows"]
        if rows < t["min_rows"]:
            small += 1
            continue
        table = qualified(fk["schema"], fk["table"])
        columns = ", ".join(quote_ident(c) for c in fk["columns"])
        name = quote_ident(_free_index_name(taken, fk["schema"], fk["table"], fk["columns"]))
        ref = qualified(fk["ref_schema"], fk["ref_table"])
        if partial is not None:
            message = (f"foreign key {quote_ident(fk['name'])} ({columns}) → {ref} is only partly indexed on {table}: "
                       f"{qualified(partial['schema'], partial['name'])} serves lookups by its first column and the "
                       f"rest are filtered row by row")
        else:
            message = (f"foreign key {quote_ident(fk['name'])} ({columns}) → {ref} has no index on {table}: "
                       f"joins on it and every DELETE or key UPDATE on {ref} scan ~{rows:,} rows")
        if fk.get("table_kind") == "p":
            # CONCURRENTLY is not supported on a partitioned table.
            fix = Fix.manual(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({columns});")
            message += " (partitioned: build it CONCURRENTLY on each partition, then ON ONLY the parent and ATTACH, to avoid a long lock)"
        else:
            fix = Fix((f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} ({columns});",), Applicability.SAFE)
        severity = "fail" if rows >= 10 * t["min_rows"] and partial is None else "warn"
        findings.append(Finding(severity, table, message, fix,
                                {"constraint": fk["name"], "columns": list(fk["columns"]), "references": ref,
                                 "estimated_rows": rows, "table_bytes": fk.get("table_bytes"),
                                 "partly_served_by": qualified(partial["schema"], partial["name"]) if partial else None}))
    metrics = {"foreign_keys": len(fks), "unindexed": len(findings) + small, "unindexed_small_tables": small}
    if not findings:
        note = f"; {small} on tables under {t['min_rows']:,} rows left alone" if small else ""
        return Outcome.passed(f"all {len(fks)} foreign keys on tables of {t['min_rows']:,}+ rows are indexed{note}", metrics=metrics)
    return Outcome.scored(penalty(findings), f"{len(findings)} of {len(fks)} foreign keys have no index on the referencing columns",
                          metrics=metrics, findings=findings)
