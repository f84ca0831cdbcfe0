"""Value sets shared across statements that filter the same column.

A statement's representative values get their shares of the calls from the rows per call
pg_stat_statements recorded (parameters.py). Where the rows tell nothing, the sets are
split evenly: an aggregate (`SELECT count(*) … WHERE status = $1 AND host = $2` returns one
row whatever the values), or a statement whose rows were not recorded. An even split
plans half the calls with the most common status, which the application may never ask
for, and the advisor then builds an index for them too (a wider or an extra one).

Another statement of the workload that filters the same column with equality, and whose
rows did tell (`SELECT * … WHERE status = $1` getting 100 rows per call asks for the rare
value), shows which values the application sends. Its shares, by value, replace the even
split: the sets with a value it asks for keep their calls in its proportions, the others
go; when none of the sets has such a value, the statement is planned again with it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from perfcheck.advisor.parameters import MIN_SHARE, ParamUse, Variant, param_uses
from perfcheck.advisor.predicates import Relation
from perfcheck.advisor.whatif import PlanError
from perfcheck.advisor.workload import Statement

Column = tuple[Relation, str]  # (the index's table, a column)
Groups = list[tuple[Statement, dict[str, Relation], list[Variant]]]  # a statement, its aliases, its value sets
Plan = Callable[[Statement], dict[str, Any]]


def _equalities(statement: Statement, relations: dict[str, Relation],
                table_of: Callable[[Relation], Any]) -> list[tuple[ParamUse, Column]]:
    """The statement's `column = $n`, each with the table and column it filters."""
    out = []
    for use in param_uses(statement.query) or []:
        if use.op != "=":
            continue
        relation = relations.get(use.alias) if use.alias else (
            next(iter(set(relations.values()))) if len(set(relations.values())) == 1 else None)
        table = table_of(relation) if relation else None
        if table is not None:
            out.append((use, (table.relation, use.column)))
    return out


def informative(statement: Statement, found: list[Variant]) -> bool:
    """Whether the shares came from the recorded rows (not an even split by default)."""
    if len(found) < 2:
        return True  # one set kept: the rows ruled the others out (or there was only one)
    rows = {float(v.plan.get("Plan Rows") or 0) for v in found}
    return bool(statement.rows) and len(rows) > 1


def learn(groups: Groups, table_of: Callable[[Relation], Any]) -> dict[Column, dict[str, float]]:
    """Each column's values as the informative statements ask for them: value -> share."""
    learned: dict[Column, dict[str, float]] = {}
    for statement, relations, found in groups:
        if not found or not informative(statement, found):
            continue
        for use, column in _equalities(statement, relations, table_of):
            seen = learned.setdefault(column, {})
            for variant in found:
                if use.number <= len(variant.values):
                    value = variant.values[use.number - 1]
                    seen[value] = seen.get(value, 0.0) + variant.share * statement.calls
    for values in learned.values():
        total = sum(values.values()) or 1.0
        for value in values:
            values[value] /= total
    return learned


def _weighted(statement: Statement, sets: list[tuple[Variant, float]]) -> list[Variant]:
    """The sets with these weights as shares of the statement's calls (rarer ones dropped)."""
    total = sum(w for _, w in sets)
    kept = [(v, w / total) for v, w in sets if total > 0 and w / total >= MIN_SHARE]
    norm = sum(s for _, s in kept) or 1.0
    out = []
    for variant, share in kept:
        share /= norm
        moved = replace(variant.statement, calls=max(1, round(statement.calls * share)),
                        rows=round(statement.rows * share), total_ms=statement.total_ms * share)
        out.append(Variant(moved, variant.values, share, variant.plan))
    return out


def _reshare(statement: Statement, found: list[Variant], use: ParamUse, asked: dict[str, float], plan: Plan) -> list[Variant]:
    weights = [(v, asked.get(v.values[use.number - 1], 0.0)) for v in found if use.number <= len(v.values)]
    if any(w > 0 for _, w in weights):
        return _weighted(statement, weights)
    base = found[0]
    sets = []
    for value, share in asked.items():
        if share < MIN_SHARE:
            continue
        values = base.values[:use.number - 1] + (value,) + base.values[use.number:]
        variant = replace(base.statement, values=values)
        sets.append((Variant(variant, values, share, plan(variant)), share))
    return _weighted(statement, sets) or found


def share(groups: Groups, table_of: Callable[[Relation], Any], plan: Plan) -> list[list[Variant]]:
    """Each statement's value sets, those split evenly by default re-shared as the other
    statements on the same column ask (the first such column of the statement)."""
    learned = learn(groups, table_of)
    out = []
    for statement, relations, found in groups:
        if found and not informative(statement, found):
            for use, column in _equalities(statement, relations, table_of):
                asked = learned.get(column)
                if asked:
                    try:
                        found = _reshare(statement, found, use, asked, plan)
                    except PlanError:
                        pass  # the asked value cannot be planned here: keep the even split
                    break
        out.append(found)
    return out
