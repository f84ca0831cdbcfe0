"""`db.fk_indexes`: Foreign keys are indexed."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from perfcheck.checks.support.indexes import Index, covers_columns, partly_covers
from perfcheck.checks.support.partitions import Partitions, Table, serves_by_name
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


def _partitioned_fix(fk: dict[str, Any], partitions: Partitions, taken: set[tuple[str, str]],
                     columns: str) -> tuple[Fix, str]:
    """The index on a partitioned table without blocking writes, and what the message says of
    it: an invalid shell ON ONLY each partitioned table, each leaf's CONCURRENTLY, then every
    part attached (deepest first); the parent's index turns valid once all its partitions'
    are attached. CREATE INDEX CONCURRENTLY on the parent itself is refused by PostgreSQL."""
    root: Table = (fk["schema"], fk["table"])
    tree = [root, *partitions.descendants(root)]
    names = {t: _free_index_name(taken, t[0], t[1], fk["columns"]) for t in tree if partitions.kind.get(t, "p") in ("p", "r")}
    plain = f"CREATE INDEX IF NOT EXISTS {quote_ident(names[root])} ON {qualified(*root)} ({columns});"
    if len(tree) == 1:
        return Fix.manual(plain), " (partitioned, no partition yet: the plain CREATE INDEX is instant)"
    if any(partitions.kind.get(t) == "f" for t in tree):
        # A foreign table takes no index, so a parent index ON ONLY could never turn valid.
        return Fix.manual(plain), (" (partitioned, with a foreign-table partition: the index cannot be attached "
                                   "partition by partition, and this CREATE INDEX blocks writes to the table while it builds)")
    steps = [f"CREATE INDEX IF NOT EXISTS {quote_ident(name)} ON ONLY {qualified(*t)} ({columns});"
             for t, name in names.items() if partitions.kind.get(t, "p") == "p"]
    steps += [f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {quote_ident(name)} ON {qualified(*t)} ({columns});"
              for t, name in names.items() if partitions.kind.get(t) == "r"]
    for t in sorted(tree[1:], key=lambda t: -len(partitions.ancestors.get(t, []))):
        parent = partitions.ancestors[t][0]
        steps.append(f"ALTER INDEX {qualified(parent[0], names[parent])} ATTACH PARTITION {qualified(t[0], names[t])};")
    return Fix.manual(*steps), (" (partitioned: the index is made ON ONLY the parent, built CONCURRENTLY on each "
                                "partition and attached, so writes are not blocked)")


def _unserved_leaves(fk: dict[str, Any], by_table: dict[Table, list[Index]], partitions: Partitions) -> tuple[list[Table], list[Table]]:
    """A partitioned table's leaves, and those of them without an index serving the key."""
    leaves = partitions.leaves((fk["schema"], fk["table"]))
    return leaves, [leaf for leaf in leaves if not any(serves_by_name(i, fk["columns"]) for i in by_table[leaf])]


def _evidence(fk: dict[str, Any], ref: str, rows: int, partial: Index | None) -> dict[str, Any]:
    return {"constraint": fk["name"], "columns": list(fk["columns"]), "references": ref, "estimated_rows": rows,
            "table_bytes": fk.get("table_bytes"),
            "partly_served_by": qualified(partial["schema"], partial["name"]) if partial else None}


def _some_partitions(fk: dict[str, Any], rows: int, unserved_rows: list[int], leaves: list[Table],
                     unserved: list[Table], taken: set[tuple[str, str]], t: dict[str, Any]) -> Finding:
    """Some leaves have an index that serves the key: those without one are named, and get
    it. Judged by the rows those hold (an empty new partition is a warning, not a failure)."""
    table, ref = qualified(fk["schema"], fk["table"]), qualified(fk["ref_schema"], fk["ref_table"])
    columns = ", ".join(quote_ident(c) for c in fk["columns"])
    missing = [qualified(*leaf) for leaf in unserved]
    fix = Fix(tuple(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS "
                    f"{quote_ident(_free_index_name(taken, leaf[0], leaf[1], fk['columns']))} ON {qualified(*leaf)} ({columns});"
                    for leaf in unserved), Applicability.SAFE)
    message = (f"foreign key {quote_ident(fk['name'])} ({columns}) → {ref} is indexed on {len(leaves) - len(unserved)} of "
               f"{len(leaves)} partitions of {table}; without an index: {', '.join(missing)} (their lookups scan "
               f"the partition; {table} itself has no such index, so a new partition gets none)")
    evidence = {**_evidence(fk, ref, rows, None), "partitions_without_index": missing, "partitions": len(leaves),
                "rows_without_index": sum(unserved_rows)}
    return Finding("fail" if sum(unserved_rows) >= 10 * t["min_rows"] else "warn", table, message, fix, evidence)


def _no_index(fk: dict[str, Any], rows: int, partial: Index | None, partitions: Partitions,
              taken: set[tuple[str, str]], t: dict[str, Any]) -> Finding:
    table, ref = qualified(fk["schema"], fk["table"]), qualified(fk["ref_schema"], fk["ref_table"])
    columns = ", ".join(quote_ident(c) for c in fk["columns"])
    if partial is not None:
        message = (f"foreign key {quote_ident(fk['name'])} ({columns}) → {ref} is only partly indexed on {table}: "
                   f"{qualified(partial['schema'], partial['name'])} serves lookups by its first column and the "
                   f"rest are filtered row by row")
    else:
        message = (f"foreign key {quote_ident(fk['name'])} ({columns}) → {ref} has no index on {table}: "
                   f"joins on it and every DELETE or key UPDATE on {ref} scan ~{rows:,} rows")
    if fk.get("table_kind") == "p":
        fix, how = _partitioned_fix(fk, partitions, taken, columns)
        message += how
    else:
        name = quote_ident(_free_index_name(taken, fk["schema"], fk["table"], fk["columns"]))
        fix = Fix((f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} ({columns});",), Applicability.SAFE)
    severity = "fail" if rows >= 10 * t["min_rows"] and partial is None else "warn"
    return Finding(severity, table, message, fix, _evidence(fk, ref, rows, partial))


@check("db.fk_indexes", requires=["postgres.foreign_keys", "postgres.indexes", "postgres.partitions"])
def fk_indexes(facts, t):
    by_table: dict[Table, list[Index]] = defaultdict(list)
    taken: set[tuple[str, str]] = set()
    for index in facts["postgres.indexes"]:
        by_table[(index["schema"], index["table"])].append(index)
        taken.add((index["schema"], index["name"]))
    partitions = Partitions(facts.get("postgres.partitions"))
    findings, small, per_partition = [], 0, 0
    fks = sorted(facts["postgres.foreign_keys"], key=lambda fk: (-fk["estimated_rows"], fk["schema"], fk["table"], fk["name"]))
    for fk in fks:
        attnums, names = set(fk["attnums"]), set(fk["columns"])
        indexes = by_table[(fk["schema"], fk["table"])]
        if any(covers_columns(index, attnums, names) for index in indexes):
            continue
        rows, leaves, unserved = fk["estimated_rows"], [], []
        if fk.get("table_kind") == "p":
            leaves, unserved = _unserved_leaves(fk, by_table, partitions)
            if leaves and not unserved:  # each partition's own index serves the lookup there
                per_partition += 1
                continue
            rows = max(rows, partitions.rows_under((fk["schema"], fk["table"])))
        if rows < t["min_rows"]:
            small += 1
            continue
        if leaves and len(unserved) < len(leaves):
            findings.append(_some_partitions(fk, rows, [partitions.rows.get(leaf, 0) for leaf in unserved],
                                             leaves, unserved, taken, t))
        else:
            partial = next((index for index in indexes if partly_covers(index, attnums, names)), None)
            findings.append(_no_index(fk, rows, partial, partitions, taken, t))
    metrics = {"foreign_keys": len(fks), "unindexed": len(findings) + small, "unindexed_small_tables": small,
               "served_per_partition": per_partition}
    if not findings:
        note = f"; {small} on tables under {t['min_rows']:,} rows left alone" if small else ""
        return Outcome.passed(f"all {len(fks)} foreign keys on tables of {t['min_rows']:,}+ rows are indexed{note}", metrics=metrics)
    return Outcome.scored(penalty(findings), f"{len(findings)} of {len(fks)} foreign keys have no index on the referencing columns",
                          metrics=metrics, findings=findings)
