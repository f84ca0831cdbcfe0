"""Candidate indexes from a statement's predicates on one table.

Equality-like keys first (=, IN, IS NULL, join columns), most distinct first, then one
range key or the ORDER BY keys of a LIMIT query: the order in which a btree serves them.
Single keys and the multi-column combinations are proposed; the what-if planner decides.
A candidate that an existing valid index already serves is never proposed: the same
leading keys on a btree (equality keys in any order), a hash index for one equality key,
a partial index only when the statement's own filter implies its predicate.
"""

from __future__ import annotations

from dataclasses import dataclass

from perfcheck.advisor.catalog import ExistingIndex, Table
from perfcheck.advisor.predicates import EQ_KINDS, Key, Predicate, SortNeed

MAX_EQ_KEYS = 3  # wider equality prefixes rarely pay for their size


@dataclass(frozen=True)
class Candidate:
    table: tuple[str, str]  # (schema, name) of the table the index belongs on
    keys: tuple[Key, ...]
    eq_keys: int  # how many leading keys are equality-like (their order is free)
    where: str | None = None  # a partial index's predicate (kinds.py)
    include: tuple[str, ...] = ()  # INCLUDE columns, for an index-only scan (kinds.py)
    method: str = "btree"  # "brin" for an append-only time column (methods.py)

    @property
    def key_sql(self) -> list[str]:
        return [k.sql for k in self.keys]


def _unique(keys: list[Key]) -> list[Key]:
    seen: set[str] = set()
    out = []
    for key in keys:
        if key.expr not in seen:
            seen.add(key.expr)
            out.append(key)
    return out


def generate(table: Table, predicates: list[Predicate], sort: SortNeed | None, conjuncts: set[str]) -> list[Candidate]:
    """The candidates for one statement on one table (`conjuncts`: its filter there, normalised)."""
    eq = _unique([p.key for p in predicates if p.kind in EQ_KINDS])
    eq.sort(key=lambda k: (-table.distinct(k), k.expr))
    eq = eq[:MAX_EQ_KEYS]
    ranges = [k for k in _unique([p.key for p in predicates if p.kind == "range"]) if k.expr not in {e.expr for e in eq}]
    out: list[tuple[tuple[Key, ...], int]] = []
    for key in [*eq, *ranges]:
        out.append(((Key(key.expr, key.is_column),), 1 if key in eq else 0))
    for width in range(2, len(eq) + 1):
        out.append((tuple(eq[:width]), width))
    for key in ranges[:2]:
        if eq:
            out.append((tuple([*eq, key]), len(eq)))
    if sort:
        tail = [k for k in sort.keys if k.expr not in {e.expr for e in eq}]
        if tail:
            out.append((tuple(tail), 0))
            if eq:
                out.append((tuple([*eq, *tail]), len(eq)))
            # The table read in order drives the join (a nested loop keeps its outer side's
            # order): its join keys get their values from the other side, row by row, so
            # they can't lead an index that reads it in order.
            fixed = [k for k in eq if any(p.key.expr == k.expr and p.kind != "join" for p in predicates)]
            if fixed and len(fixed) < len(eq):
                out.append((tuple([*fixed, *tail]), len(fixed)))
    seen: set[tuple[Key, ...]] = set()
    candidates = []
    for keys, eq_keys in out:
        if keys in seen:
            continue
        seen.add(keys)
        candidate = Candidate(table.relation, keys, eq_keys)
        if served_by_existing(table, candidate, conjuncts) is None:
            candidates.append(candidate)
    return candidates


def _same_order(index_keys: list[Key], wanted: tuple[Key, ...]) -> bool:
    """The keys match in order, with the same directions or all of them reversed (a btree
    can be read backwards)."""
    if [k.expr for k in index_keys] != [k.expr for k in wanted]:
        return False
    def order(key: Key) -> tuple[bool, bool]:
        return key.desc, key.desc if key.nulls_first is None else key.nulls_first

    forward = all(order(a) == order(b) for a, b in zip(index_keys, wanted))
    backward = all(order(a) == order(b.flipped()) for a, b in zip(index_keys, wanted))
    return forward or backward


def serves(index: ExistingIndex, candidate: Candidate, conjuncts: set[str]) -> bool:
    """Whether an existing index already does what the candidate would."""
    if not index.valid:
        return False  # an INVALID index serves nothing (apply-indexes repairs its own)
    if index.predicate is not None and not index.predicate <= conjuncts:
        return False  # a partial index serves only statements whose filter implies its predicate
    keys = candidate.keys
    if index.method == "hash":
        return len(keys) == 1 and candidate.eq_keys == 1 and len(index.keys) == 1 and index.keys[0].expr == keys[0].expr
    if index.method != "btree" or len(index.keys) < len(keys):
        return False
    head = index.keys[:candidate.eq_keys]
    if {k.expr for k in head} != {k.expr for k in keys[:candidate.eq_keys]}:
        return False
    tail = keys[candidate.eq_keys:]
    return not tail or _same_order(index.keys[candidate.eq_keys:len(keys)], tail)


def served_by_existing(table: Table, candidate: Candidate, conjuncts: set[str]) -> ExistingIndex | None:
    return next((index for index in table.indexes if serves(index, candidate, conjuncts)), None)
