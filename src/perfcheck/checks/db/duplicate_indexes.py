"""`db.duplicate_indexes`: No duplicate or redundant indexes."""

from __future__ import annotations

from collections import defaultdict

from perfcheck.checks.support.indexes import Index, drop_fix, index_keys, qualified_name
from perfcheck.checks.support.pg import penalty
from perfcheck.model import Finding
from perfcheck.pg.names import qualified
from perfcheck.registry import Outcome, check
from perfcheck.units import format_bytes


def _included(index: Index) -> tuple[int, ...]:
    return tuple(index["attnums"][index["key_columns"]:])


def _keeps(index: Index) -> tuple[bool, bool, bool, int, int]:
    """Sort key of the index to keep among equals: a partition's part of a partitioned index
    (it cannot be dropped alone), a constraint's, a unique one, the most used, the oldest."""
    return (not index.get("is_partition"), not (index["backs_constraint"] or index["is_primary"]),
            not index["is_unique"], -index["scans"], index["oid"])


def _hash_pairs(indexes: list[Index]) -> list[tuple[Index, Index, str]]:
    """A hash index on a column that a btree of the same table leads with (same predicate,
    no expressions, same collation): every equality lookup the hash serves, the btree does."""
    btrees: dict[tuple, list[Index]] = defaultdict(list)
    for index in indexes:
        if index["method"] == "btree" and not index["expressions"] and index["key_columns"]:
            btrees[(index["schema"], index["table"], index["predicate"] or "", index["attnums"][0])].append(index)
    pairs = []
    for index in indexes:
        if index["method"] != "hash" or index["expressions"] or index.get("is_partition") or index["key_columns"] != 1:
            continue
        key = (index["schema"], index["table"], index["predicate"] or "", index["attnums"][0])
        collation = (index.get("collations") or [None])[0]
        match = next((b for b in sorted(btrees.get(key, []), key=_keeps)
                      if (b.get("collations") or [None])[0] == collation), None)
        if match is not None:
            pairs.append((index, match, "hash"))
    return pairs


def _redundant_pairs(group: list[Index]) -> list[tuple[Index, Index, str]]:
    """(redundant, kept, how) within indexes of one table, method, predicate and
    expressions. Sorted by key columns, every index whose keys start with A's keys follows
    A directly, so each index looks only at its run of followers."""
    entries = sorted(group, key=lambda ix: (index_keys(ix), _keeps(ix)))
    btree = group[0]["method"] == "btree"
    found: dict[int, tuple[Index, Index, str]] = {}
    for i, small in enumerate(entries):
        keys = index_keys(small)
        for big in entries[i + 1:]:
            if index_keys(big)[: len(keys)] != keys:
                break
            same_keys = index_keys(big) == keys
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
    pairs = [pair for group in groups.values() if len(group) > 1 for pair in _redundant_pairs(group)
             # a partition's part of a partitioned index goes with its parent, which is judged itself
             if not pair[0].get("is_partition")]
    pairs += _hash_pairs([index for index in facts["postgres.indexes"] if index["is_valid"]])
    pairs.sort(key=lambda p: (-p[0]["size_bytes"], p[0]["schema"], p[0]["name"]))
    findings = []
    for loser, winner, how in pairs:
        table = qualified(loser["schema"], loser["table"])
        if how == "identical":
            message = f"{qualified_name(loser)} is identical to {qualified_name(winner)} on {table}"
        elif how == "hash":
            message = (f"{qualified_name(loser)} (hash) is served by {qualified_name(winner)} (btree, same leading "
                       f"column) on {table}: every equality lookup it serves, the btree serves")
        else:
            message = f"{qualified_name(loser)} is a prefix of {qualified_name(winner)} on {table}: every query it serves, the wider index serves"
        message += f"; it costs {format_bytes(loser['size_bytes'])} and every write"
        fix = drop_fix(loser)
        if loser["backs_constraint"] or loser["is_primary"]:
            fix = None
            message += " (both back constraints: drop the redundant constraint with ALTER TABLE … DROP CONSTRAINT)"
        findings.append(Finding("fail" if how == "identical" else "warn", qualified_name(loser), message, fix,
                                {"kind": how, "covered_by": qualified_name(winner), "size_bytes": loser["size_bytes"],
                                 "scans": loser["scans"], "definition": loser["definition"],
                                 "covered_by_definition": winner["definition"]}))
    wasted = sum(p[0]["size_bytes"] for p in pairs)
    metrics = {"redundant": len(findings), "redundant_bytes": wasted,
               "identical": sum(1 for p in pairs if p[2] == "identical")}
    if not findings:
        return Outcome.passed("no identical or prefix-covered indexes", metrics=metrics)
    return Outcome.scored(penalty(findings), f"{len(findings)} redundant indexes ({format_bytes(wasted)})",
                          metrics=metrics, findings=findings)
