"""The advisor without HypoPG: a heuristic from column statistics (pg_stats), unverified.

For a statement whose plan reads a big table sequentially (or sorts it under a LIMIT),
each candidate's share of the table it would read is estimated from pg_stats: 1/n_distinct
for an equality, the NULL fraction for IS NULL, the planner's own defaults for ranges
(1/3 open-ended, 0.5 % between two bounds); a candidate that also delivers the ORDER BY of
a LIMIT query reads only the rows it returns. The most selective candidate under 5 % is
kept, and an index whose keys are a prefix of another kept one on the same table gives
way to it. Nothing here is checked with the planner: findings say so.
"""

from __future__ import annotations

from perfcheck.advisor.candidates import Candidate
from perfcheck.advisor.catalog import Catalog, Table
from perfcheck.advisor.model import Options, Recommendation
from perfcheck.advisor.predicates import EQ_KINDS, Predicate
from perfcheck.advisor.work import Work, recommendation

MAX_SELECTIVITY = 0.05  # beyond this share of a table, an index scan rarely beats a sequential one
DEFAULT_EQ = 0.005  # PostgreSQL's default equality selectivity, without statistics
DEFAULT_OPEN_RANGE = 1 / 3
DEFAULT_CLOSED_RANGE = 0.005
BTREE_TUPLE_OVERHEAD = 16  # index tuple header and heap pointer, with alignment
FILL = 0.9  # btree leaf pages are built 90 % full


def selectivity(table: Table, candidate: Candidate, predicates: list[Predicate], sorted_limit: bool) -> float:
    by_key: dict[str, list[Predicate]] = {}
    for p in predicates:
        by_key.setdefault(p.key.expr, []).append(p)
    share = 1.0
    for position, key in enumerate(candidate.keys):
        found = by_key.get(key.expr, [])
        kinds = {p.kind for p in found}
        stats = table.stats.get(key.expr.strip('"'), {})
        if position < candidate.eq_keys or kinds & set(EQ_KINDS):
            distinct = table.distinct(key)
            if "null" in kinds:
                share *= float(stats.get("null_frac") or DEFAULT_EQ)
            elif "in" in kinds:
                share *= min(1.0, 3 / distinct) if distinct else DEFAULT_EQ * 3
            else:
                share *= 1 / distinct if distinct else DEFAULT_EQ
            continue
        ops = {p.op[0] for p in found if p.kind == "range" and p.op}
        if ops:
            share *= DEFAULT_CLOSED_RANGE if ops == {"<", ">"} else DEFAULT_OPEN_RANGE
            break  # keys after a range don't narrow the scan
        if sorted_limit:
            return 0.0  # the index delivers the order: the scan stops at the LIMIT
        break
    return share


def choose(works: list[Work], catalog: Catalog, options: Options) -> list[Recommendation]:
    picks: dict[Candidate, list[Work]] = {}
    for work in works:
        scanned = {catalog.table_for(r).relation for r in work.base.seq_scanned if catalog.table_for(r)}
        for relation in {c.table for c in work.candidates}:
            table = catalog.tables[relation]
            sort = work.sorts.get(relation)
            if relation not in scanned and sort is None:
                continue  # already read through an index
            predicates = work.predicates.get(relation, [])
            scored = []
            for candidate in (c for c in work.candidates if c.table == relation):
                uses_sort = sort is not None and candidate.keys[candidate.eq_keys:] == sort.keys[:len(candidate.keys) - candidate.eq_keys] \
                    and len(candidate.keys) > candidate.eq_keys
                eq_all = candidate.eq_keys >= len({p.key.expr for p in predicates if p.kind in EQ_KINDS})
                share = selectivity(table, candidate, predicates, uses_sort and eq_all)
                scored.append((share, len(candidate.keys), candidate.key_sql, candidate))
            if not scored:
                continue
            share, _, _, best = min(scored, key=lambda s: s[:3])
            if share <= MAX_SELECTIVITY:
                picks.setdefault(best, []).append(work)
    # Fewest indexes: one whose keys lead another kept index on the same table gives way.
    for small in sorted(picks, key=lambda c: len(c.keys)):
        for big in picks:
            if big is not small and big.table == small.table and len(big.keys) > len(small.keys) \
                    and big.keys[:len(small.keys)] == small.keys and small in picks:
                picks[big].extend(w for w in picks.pop(small) if w not in picks[big])
                break
    recommendations = []
    for candidate, helped in picks.items():
        for work in helped:
            work.cost = work.base.cost
        table = catalog.tables[candidate.table]
        rec = recommendation(table, candidate, helped, verified=False)
        rec.size_bytes = estimated_size(table, candidate)
        recommendations.append(rec)
    return recommendations


def estimated_size(table: Table, candidate: Candidate) -> int:
    width = sum(int(table.stats.get(k.expr.strip('"'), {}).get("avg_width") or 8) for k in candidate.keys)
    return int(max(table.rows, 1) * (width + BTREE_TUPLE_OVERHEAD) / FILL) + 8192
