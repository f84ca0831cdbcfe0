"""The index advisor's values: its options, and the advice it gives.

`Advice.to_dict()` is the value of the `postgres.index_advice` fact (plain data, so that a
saved run can be judged again); `Advice.from_dict()` reads it back for `apply-indexes`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from perfcheck import checklist
from perfcheck.advisor.ddl import statements
from perfcheck.pg.names import qualified

CHECK_ID = "db.missing_indexes"


@dataclass(frozen=True)
class Options:
    """What the advisor considers; the defaults are db.missing_indexes' thresholds."""

    min_calls: int = 10  # statements called fewer times are noise
    min_mean_ms: float = 0.5  # statements faster than this gain nothing worth an index
    min_saving: float = 0.3  # keep an index only if it cuts a statement's planner cost by this share
    min_table_rows: int = 10000  # tables smaller than this are scanned faster than an index is read
    max_statements: int = 200  # the top statements by total time that are analysed
    max_selectivity: float = 0.3  # a statement returning more of its table than this is not indexed
    max_seconds: float = 30.0  # the advisor's own time budget; past it the advice is marked partial
    brin_min_correlation: float = 0.95  # BRIN only for a column this well ordered on disk (pg_stats.correlation)…
    brin_min_rows: int = 1_000_000  # …of a table this big (smaller ones: a btree costs little)

    @classmethod
    def from_thresholds(cls, thresholds: dict[str, Any] | None = None) -> Options:
        meta = checklist.meta(CHECK_ID)
        merged = {**(meta.thresholds if meta else {}), **(thresholds or {})}
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in merged.items() if k in known})


@dataclass
class StatementUse:
    """A workload statement an index helps, with its planner cost without and with the index."""

    queryid: int | None
    query: str
    calls: int
    mean_ms: float
    total_ms: float
    cost_before: float
    cost_after: float | None  # None: unverified (no HypoPG)
    values: list[list[str]] | None = None  # the representative values ($1, $2…) it was verified with
    share: float | None = None  # the share of the statement's calls those values stand for
    recovered: dict[str, str] | None = None  # constants normalised away, recovered ({"$1": "'day'"}): truncation.py

    @property
    def saving(self) -> float | None:
        if self.cost_after is None or self.cost_before <= 0:
            return None
        return max(0.0, 1 - self.cost_after / self.cost_before)


@dataclass
class Recommendation:
    schema: str
    table: str
    keys: list[str]  # index keys as SQL: a column, "(lower(email))", "created_at DESC"
    name: str
    table_kind: str = "r"  # "r" a table, "p" a partitioned table
    partitions: list[list[str]] = field(default_factory=list)  # [schema, name] of each leaf, for "p"
    nested_partitions: bool = False  # partitions partitioned in turn: apply-indexes refuses those
    method: str = "btree"
    include: list[str] = field(default_factory=list)  # INCLUDE columns (an index-only scan)
    where: str | None = None  # a partial index's predicate
    table_rows: int = 0
    size_bytes: int = 0  # estimated (HypoPG, or from column widths)
    verified: bool = True  # False: heuristic mode or a kind HypoPG cannot simulate (see unverified_reason)
    statements: list[StatementUse] = field(default_factory=list)
    unverified_reason: str | None = None  # why this one was not verified (GIN: HypoPG cannot simulate it)
    btree_size_bytes: int | None = None  # BRIN: the size of the btree it was preferred to

    @property
    def qualified_table(self) -> str:
        return qualified(self.schema, self.table)

    @property
    def columns(self) -> str:
        return ", ".join(self.keys)

    @property
    def label(self) -> str:
        """How the finding names it: the table and the index keys."""
        include = f" INCLUDE ({', '.join(self.include)})" if self.include else ""
        using = f" USING {self.method}" if self.method != "btree" else ""
        return f"{self.qualified_table}{using} ({self.columns}){include}{f' WHERE {self.where}' if self.where else ''}"

    @property
    def calls(self) -> int:
        return sum(s.calls for s in self.statements)

    @property
    def total_ms(self) -> float:
        return sum(s.total_ms for s in self.statements)

    @property
    def cost_before(self) -> float:
        return sum(s.cost_before for s in self.statements)

    @property
    def cost_after(self) -> float | None:
        if any(s.cost_after is None for s in self.statements):
            return None
        return sum(s.cost_after for s in self.statements)

    @property
    def saved_ms(self) -> float | None:
        """Time the statements would save over the same workload, estimated from planner costs."""
        if not self.verified:
            return None
        return sum(s.total_ms * (s.saving or 0.0) for s in self.statements)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["statements"] = [asdict(s) for s in self.statements]
        data["ddl"] = statements(self)  # what builds it: the finding's fix
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recommendation:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["statements"] = [StatementUse(**s) for s in data.get("statements") or []]
        return cls(**values)


@dataclass
class Advice:
    mode: str  # "hypopg" (verified) or "heuristic" (HypoPG not installed in the database)
    recommendations: list[Recommendation] = field(default_factory=list)
    statements_total: int = 0  # statements in pg_stat_statements for this database (perfcheck's own left out)
    statements_analysed: int = 0
    workload_ms: float = 0.0  # total time of the analysed statements
    skipped: dict[str, int] = field(default_factory=dict)  # why statements were left out, with counts
    statements_rewritten: int = 0  # analysed after their typed literals were written as casts (`$2::interval`)
    unplannable: int = 0  # statements that parse but that the planner refused (reasons in `skipped`)
    partial: bool = False  # the time budget ran out before every statement was analysed
    elapsed_s: float = 0.0
    server_version_num: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    unrecovered: dict[str, int] = field(default_factory=dict)  # constants normalised away and not recovered: why, with counts

    @property
    def verified(self) -> bool:
        return self.mode == "hypopg"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["recommendations"] = [r.to_dict() for r in self.recommendations]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Advice:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["recommendations"] = [Recommendation.from_dict(r) for r in data.get("recommendations") or []]
        return cls(**values)
