"""A statement on its way through the advisor, the advisor's time budget, and the
recommendation made from the statements an index helps: shared by the HypoPG path
(`analyse.py`) and the heuristic (`heuristic.py`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from perfcheck.advisor.candidates import Candidate
from perfcheck.advisor.catalog import Table
from perfcheck.advisor.model import Recommendation, StatementUse
from perfcheck.advisor.predicates import PlanFacts, Predicate, SortNeed
from perfcheck.advisor.workload import Statement

QUERY_TEXT_CHARS = 20000  # whole statements: apply-indexes plans them again after building


@dataclass
class Work:
    """One statement on its way through the advisor."""

    statement: Statement
    base: PlanFacts
    candidates: list[Candidate] = field(default_factory=list)
    predicates: dict[tuple[str, str], list[Predicate]] = field(default_factory=dict)  # by table
    sorts: dict[tuple[str, str], SortNeed] = field(default_factory=dict)
    cost: float = 0.0  # with the chosen hypothetical indexes
    used: set[Candidate] = field(default_factory=set)
    share: float = 1.0  # of the statement's calls: planned with representative values (parameters.py)

    @property
    def saving(self) -> float:
        return 1 - self.cost / self.base.cost if self.base.cost > 0 else 0.0


class Budget:
    def __init__(self, seconds: float):
        self.deadline = time.monotonic() + seconds
        self.exhausted = False

    def over(self) -> bool:
        if time.monotonic() > self.deadline:
            self.exhausted = True
        return self.exhausted


def recommendation(table: Table, candidate: Candidate, helped: list[Work], *, verified: bool) -> Recommendation:
    return Recommendation(
        schema=table.schema, table=table.name, keys=candidate.key_sql, name="", method=candidate.method,
        include=list(candidate.include), where=candidate.where,
        table_kind="p" if table.kind == "p" else "r",
        partitions=[list(p) for p in table.partitions], nested_partitions=table.nested_partitions,
        table_rows=table.rows, verified=verified,
        statements=sorted((_use(group, verified) for group in _by_statement(helped)), key=lambda u: -u.total_ms),
    )


def _by_statement(works: list[Work]) -> list[list[Work]]:
    """The works of each statement together (one per value set it was planned with)."""
    groups: dict[tuple[int | None, str], list[Work]] = {}
    for work in works:
        groups.setdefault((work.statement.queryid, work.statement.query), []).append(work)
    return list(groups.values())


def _use(group: list[Work], verified: bool) -> StatementUse:
    """One statement's use of an index: its value sets that benefit, their share of the
    calls, and their costs weighted by it."""
    first = group[0].statement
    calls, total_ms = sum(w.statement.calls for w in group), sum(w.statement.total_ms for w in group)
    weight = sum(w.share for w in group) or 1.0
    before = sum(w.base.cost * w.share for w in group) / weight
    after = sum(w.cost * w.share for w in group) / weight
    values = [list(w.statement.values) for w in group if w.statement.values] or None
    return StatementUse(first.queryid, first.query[:QUERY_TEXT_CHARS], calls,
                        round(total_ms / calls, 3) if calls else 0.0, round(total_ms, 3), round(before, 2),
                        round(after, 2) if verified else None, values=values, share=round(weight, 3) if values else None,
                        recovered=dict(first.recovered) if first.recovered else None)
