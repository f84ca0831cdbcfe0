"""The PostgreSQL index checks: foreign keys without an index, indexes never used,
duplicated or left INVALID. Pure functions of the collected catalog facts; each pass
over the indexes is a sort or a dictionary lookup, so thousands of indexes stay cheap."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from perfcheck.model import Applicability, Finding, Fix
from perfcheck.registry import Outcome, check
from perfcheck.pg.names import index_name, qualified, quote_ident
from perfcheck.units import format_bytes
from perfcheck.checks.pg import penalty

Index = dict[str, Any]


def _keys(index: Index) -> tuple[int, ...]:
    return tuple(index["attnums"][: index["key_columns"]])


def _included(index: Index) -> tuple[int, ...]:
    return tuple(index["attnums"][index["key_columns"]:])


def _name(index: Index) -> str:
    return qualified(index["schema"], index["name"])


def _drop(index: Index) -> Fix:
    """Unsafe: the statistics are per server, so a replica or a monthly job may still use it."""
    return Fix((f"DROP INDEX CONCURRENTLY IF EXISTS {_name(index)};",), Applicability.UNSAFE)


def _stats_since(server: dict[str, Any]) -> str:
    reset = server.get("stats_reset")
    return f"since the statistics were reset ({str(reset)[:19]})" if reset else "since the statistics began (never reset)"


# --- db.fk_indexes ---------------------------------------------------------------------

def _covers(index: Index, attnums: set[int]) -> bool:
    """Whether an index serves lookups on these columns: a valid, non-partial btree whose
    leading columns are exactly them (in any order), or a hash index on the one column."""
    if not index["is_valid"] or index["predicate"]:
        return False
    keys = _keys(index)
    if index["method"] == "btree":
        return len(keys) >= len(attnums) and set(keys[: len(attnums)]) == attnums
    return index["method"] == "hash" and set(keys) == attnums


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
        attnums = set(fk["attnums"])
        if any(_covers(index, attnums) for index in by_table[(fk["schema"], fk["table"])]):
            continue
        rows = fk["estimated_rows"]
        if rows < t["min_rows"]:
            small += 1
            continue
        table = qualified(fk["schema"], fk["table"])
        columns = ", ".join(quote_ident(c) for c in fk["columns"])
        name = quote_ident(_free_index_name(taken, fk["schema"], fk["table"], fk["columns"]))
        ref = qualified(fk["ref_schema"], fk["ref_table"])
        message = (f"foreign key {quote_ident(fk['name'])} ({columns}) → {ref} has no index on {table}: "
                   f"joins on it and every DELETE or key UPDATE on {ref} scan ~{rows:,} rows")
        if fk.get("table_kind") == "p":
            # CONCURRENTLY is not supported on a partitioned table.
            fix = Fix.manual(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({columns});")
            message += " (partitioned: build it CONCURRENTLY on each partition, then ON ONLY the parent and ATTACH, to avoid a long lock)"
        else:
            fix = Fix((f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} ({columns});",), Applicability.SAFE)
        severity = "fail" if rows >= 10 * t["min_rows"] else "warn"
        findings.append(Finding(severity, table, message, fix,
                                {"constraint": fk["name"], "columns": list(fk["columns"]), "references": ref,
                                 "estimated_rows": rows, "table_bytes": fk.get("table_bytes")}))
    metrics = {"foreign_keys": len(fks), "unindexed": len(findings) + small, "unindexed_small_tables": small}
    if not findings:
        note = f"; {small} on tables under {t['min_rows']:,} rows left alone" if small else ""
        return Outcome.passed(f"all {len(fks)} foreign keys on tables of {t['min_rows']:,}+ rows are indexed{note}", metrics=metrics)
    return Outcome.scored(penalty(findings), f"{len(findings)} of {len(fks)} foreign keys have no index on the referencing columns",
                          metrics=metrics, findings=findings)


# --- db.unused_indexes -------------------------------------------------------------------

@check("db.unused_indexes", requires=["postgres.indexes", "postgres.server", "postgres.foreign_keys"])
def unused_indexes(facts, t):
    server = facts["postgres.server"]
    since = _stats_since(server)
    fk_columns: dict[tuple[str, str], list[set[int]]] = defaultdict(list)
    for fk in facts["postgres.foreign_keys"]:
        fk_columns[(fk["schema"], fk["table"])].append(set(fk["attnums"]))
    candidates = [
        index for index in facts["postgres.indexes"]
        if index["scans"] == 0 and index["is_valid"] and not index["is_unique"] and not index["is_primary"]
        and not index["backs_constraint"] and not index.get("is_partition")  # a partition's index goes with its parent's
        and index["size_bytes"] >= t["min_size_bytes"]
    ]
    # An index that serves a foreign key stays, even unscanned: the first DELETE on the
    # referenced table would scan without it (and db.fk_indexes would ask for it back).
    unused = [index for index in candidates
              if not any(_covers(index, cols) for cols in fk_columns[(index["schema"], index["table"])])]
    unused.sort(key=lambda index: (-index["size_bytes"], index["schema"], index["name"]))
    findings = [
        Finding("fail", _name(index),
                f"{_name(index)} on {qualified(index['schema'], index['table'])} ({format_bytes(index['size_bytes'])}) "
                f"was never scanned {since}; every write still maintains it",
                _drop(index), {"size_bytes": index["size_bytes"], "scans": 0, "definition": index["definition"]})
        for index in unused
    ]
    wasted = sum(index["size_bytes"] for index in unused)
    metrics = {"unused": len(unused), "unused_bytes": wasted, "kept_for_foreign_keys": len(candidates) - len(unused),
               "stats_reset": server.get("stats_reset"),
               "in_recovery": server.get("in_recovery")}
    if not findings:
        return Outcome.passed(f"every index over {format_bytes(t['min_size_bytes'])} has been scanned {since}", metrics=metrics)
    summary = f"{len(findings)} indexes ({format_bytes(wasted)}) never scanned {since}"
    if server.get("in_recovery"):
        summary += "; these statistics are this standby's only"
    return Outcome.scored(penalty(findings), summary, metrics=metrics, findings=findings)


# --- db.duplicate_indexes -------------------------------------------------------------------

def _keeps(index: Index) -> tuple[bool, bool, int, int]:
    """Sort key of the index to keep among equals: a constraint's, a unique one, the most
    used, the oldest."""
    return (not (index["backs_constraint"] or index["is_primary"]), not index["is_unique"], -index["scans"], index["oid"])


def _redundant_pairs(group: list[Index]) -> list[tuple[Index, Index, str]]:
    """(redundant, kept, how) within indexes of one table, method, predicate and
    expressions. Sorted by key columns, every index whose keys start with A's keys follows
    A directly, so each index looks only at its run of followers."""
    entries = sorted(group, key=lambda ix: (_keys(ix), _keeps(ix)))
    btree = group[0]["method"] == "btree"
    found: dict[int, tuple[Index, Index, str]] = {}
    for i, small in enumerate(entries):
        keys = _keys(small)
        for big in entries[i + 1:]:
            if _keys(big)[: len(keys)] != keys:
                break
            same_keys = _keys(big) == keys
            if not same_keys and not btree:
                break
            n = len(keys)
            if (small["opclasses"][:n] != big["opclasses"][:n]
                    or (small.get("collations") or [])[:n] != (big.get("collations") or [])[:n]):
                continue
            if same_keys and set(_included(small)) == set(_included(big)):
                # identical: drop the one that is not kept (the later in _keeps order)
                loser, winner = (big, small)
                if loser["oid"] not in found:
                    found[loser["oid"]] = (loser, winner, "identical")
            elif set(_included(small)) <= set(big["attnums"]) and not small["is_unique"] \
                    and not small["backs_constraint"] and not small["is_primary"]:
                # a unique index is never redundant: it enforces something the wider one doesn't
                found.setdefault(small["oid"], (small, big, "prefix"))
    return list(found.values())


@check("db.duplicate_indexes", requires=["postgres.indexes"])
def duplicate_indexes(facts, t):
    groups: dict[tuple, list[Index]] = defaultdict(list)
    for index in facts["postgres.indexes"]:
        if index["is_valid"]:
            groups[(index["schema"], index["table"], index["method"], index["predicate"] or "",
                    index["expressions"] or "")].append(index)
    pairs = [pair for group in groups.values() if len(group) > 1 for pair in _redundant_pairs(group)]
    pairs.sort(key=lambda p: (-p[0]["size_bytes"], p[0]["schema"], p[0]["name"]))
    findings = []
    for loser, winner, how in pairs:
        table = qualified(loser["schema"], loser["table"])
        if how == "identical":
            message = f"{_name(loser)} is identical to {_name(winner)} on {table}"
        else:
            message = f"{_name(loser)} is a prefix of {_name(winner)} on {table}: every query it serves, the wider index serves"
        message += f"; it costs {format_bytes(loser['size_bytes'])} and every write"
        fix = _drop(loser)
        if loser["backs_constraint"] or loser["is_primary"]:
            fix = None
            message += " (both back constraints: drop the redundant constraint with ALTER TABLE … DROP CONSTRAINT)"
        findings.append(Finding("fail" if how == "identical" else "warn", _name(loser), message, fix,
                                {"kind": how, "covered_by": _name(winner), "size_bytes": loser["size_bytes"],
                                 "scans": loser["scans"], "definition": loser["definition"],
                                 "covered_by_definition": winner["definition"]}))
    wasted = sum(p[0]["size_bytes"] for p in pairs)
    metrics = {"redundant": len(findings), "redundant_bytes": wasted,
               "identical": sum(1 for p in pairs if p[2] == "identical")}
    if not findings:
        return Outcome.passed("no identical or prefix-covered indexes", metrics=metrics)
    return Outcome.scored(penalty(findings), f"{len(findings)} redundant indexes ({format_bytes(wasted)})",
                          metrics=metrics, findings=findings)


# --- db.invalid_indexes ----------------------------------------------------------------------

def _rebuild(index: Index) -> tuple[str, ...]:
    create = index["definition"].replace(" INDEX ", " INDEX CONCURRENTLY IF NOT EXISTS ", 1)
    return (f"DROP INDEX CONCURRENTLY IF EXISTS {_name(index)};", f"{create};")


@check("db.invalid_indexes", requires=["postgres.indexes"])
def invalid_indexes(facts, t):
    invalid = sorted((ix for ix in facts["postgres.indexes"] if not ix["is_valid"]),
                     key=lambda ix: (ix["schema"], ix["name"]))
    findings = []
    for index in invalid:
        table = qualified(index["schema"], index["table"])
        message = (f"{_name(index)} on {table} is INVALID: the planner ignores it"
                   f"{', yet every write still maintains it' if index['is_ready'] else ''} "
                   f"(left by a failed or interrupted CREATE INDEX CONCURRENTLY, unless one is running now)")
        if index.get("table_kind") == "p":
            fix = None
            message += "; on a partitioned table: attach an index of every partition (ALTER INDEX … ATTACH PARTITION)"
        elif index["is_unique"]:
            # Dropping it stops the uniqueness checks it still makes on new rows; the
            # rebuild fails again while duplicate values remain.
            fix = Fix(_rebuild(index), Applicability.UNSAFE)
            message += "; a unique build fails while duplicate values exist: remove them before rebuilding"
        else:
            fix = Fix(_rebuild(index), Applicability.SAFE)
        findings.append(Finding("fail", _name(index), message, fix,
                                {"size_bytes": index["size_bytes"], "is_ready": index["is_ready"],
                                 "definition": index["definition"]}))
    metrics = {"invalid": len(findings)}
    if not findings:
        return Outcome.passed("no INVALID indexes", metrics=metrics)
    return Outcome.scored(penalty(findings), f"{len(findings)} INVALID indexes", metrics=metrics, findings=findings)
