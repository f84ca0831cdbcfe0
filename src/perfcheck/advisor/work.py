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
        schema=table.schema, table=table.name, keys=candidate.key_sql, name="",
        table_kind="p" if table.kind == "p" else "r",
        partitions=[list(p) for p in table.partitions], nested_partitions=table.nested_partitions,
        table_rows=table.rows, verified=verified,
        statements=[StatementUse(w.statement.queryid, w.statement.query[:QUERY_TEXT_CHARS], w.statement.calls,
                                 round(w.statement.mean_ms, 3), round(w.statement.total_ms, 3),
                                 round(w.base.cost, 2), round(w.cost, 2) if verified else None)
                    for w in sorted(helped, key=lambda w: -w.statement.total_ms)],
    )
