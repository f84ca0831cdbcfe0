"""Representative parameters: plan a statement with values the application plausibly sends.

A generic plan sees an average parameter: `status = $1` as a value of average frequency,
`created_at > $1` as a third of the table, never the rare value or the recent range an
application asks for. For each `column op $n` (and `column > now() - $n::interval`) of a
statement, values are drawn from the column's statistics in pg_stats:

- equality: the most common value and the rarest (the least common of the most-common
  list, or a histogram value when values outside the list are rarer);
- a range: a histogram bound near the newest end (`>`) or the oldest (`<`), and the middle;
- LIKE: a selective prefix of a common value;
- `now() - $n` (a recent range): 1 hour, 1 day, 30 days.

Each set of values is planned (a custom plan, `EXPLAIN EXECUTE`), and the sets are given
a share of the calls so that their estimated rows average to the rows per call that
pg_stat_statements recorded: a workload that gets 3 rows per call from `status = $1` asks
for the rare value. A statement whose parameters can't all be given a value keeps its
generic plan.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Callable

from pglast import ast, parse_sql
from pglast.enums import A_Expr_Kind
from pglast.parser import ParseError

from perfcheck.advisor.predicates import Relation, walk_tree
from perfcheck.advisor.workload import Statement

MAX_SETS = 3  # value sets planned per statement
MIN_SHARE = 0.05  # a set given less of the calls is not kept
CONSISTENT = 4  # recorded rows per call this far outside the sets' estimates: keep the generic plan
RECENT = ["1 hour", "1 day", "30 days"]
_RANGE_OPS = {">", ">=", "<", "<="}

Query = Callable[[str, dict[str, Any]], list[dict[str, Any]]]


@dataclass(frozen=True)
class ParamUse:
    number: int
    alias: str | None  # the column's qualifier in the statement, None when bare
    column: str
    op: str  # "=", ">", "<", ">=", "<=", "like", "recent", "limit"


def _column(node: Any) -> tuple[str | None, str] | None:
    while isinstance(node, ast.TypeCast):
        node = node.arg
    if isinstance(node, ast.ColumnRef) and all(isinstance(f, ast.String) for f in node.fields):
        names = [f.sval for f in node.fields]
        return (names[-2] if len(names) > 1 else None), names[-1]
    return None


def _param(node: Any) -> int | None:
    while isinstance(node, ast.TypeCast):
        node = node.arg
    return node.number if isinstance(node, ast.ParamRef) else None


def _recent(node: Any) -> int | None:
    """The $n of `now() - $n` (also current_timestamp/current_date - $n)."""
    if isinstance(node, ast.A_Expr) and node.name and node.name[-1].sval == "-":
        left = node.lexpr
        clock = (isinstance(left, ast.FuncCall) and left.funcname[-1].sval in ("now", "clock_timestamp")) or \
            isinstance(left, ast.SQLValueFunction)
        return _param(node.rexpr) if clock else None
    return None


_FLIP = {">": "<", "<": ">", ">=": "<=", "<=": ">=", "=": "="}


def param_uses(query: str) -> list[ParamUse] | None:
    """Where each $n of the statement is compared with a column; None if it does not parse."""
    found = _param_uses(query)
    return None if found is None else list(found)


@lru_cache(maxsize=2048)  # several steps ask of each statement: parse it once
def _param_uses(query: str) -> tuple[ParamUse, ...] | None:
    try:
        stmt = parse_sql(query)[0].stmt
    except (ParseError, IndexError):
        return None
    uses: list[ParamUse] = []
    for node in walk_tree(stmt):
        if isinstance(node, ast.SelectStmt):
            for limit in (node.limitCount, node.limitOffset):
                if _param(limit) is not None:
                    uses.append(ParamUse(_param(limit), None, "", "limit"))
        if not isinstance(node, ast.A_Expr) or not node.name:
            continue
        op = node.name[-1].sval
        kind = node.kind
        if kind in (A_Expr_Kind.AEXPR_LIKE, A_Expr_Kind.AEXPR_ILIKE) or op in ("~~", "~~*"):
            op = "like"
        elif kind != A_Expr_Kind.AEXPR_OP or op not in _FLIP:
            continue
        for col_side, other, flip in ((node.lexpr, node.rexpr, False), (node.rexpr, node.lexpr, True)):
            column = _column(col_side)
            if column is None:
                continue
            number = _param(other)
            used_op = _FLIP[op] if flip and op in _FLIP else op
            if number is None and used_op in (">", ">=") and _recent(other) is not None:
                number, used_op = _recent(other), "recent"
            if number is not None:
                uses.append(ParamUse(number, column[0], column[1], used_op))
    return tuple(uses)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _candidates(use: ParamUse, stats: dict[str, Any] | None) -> list[str]:
    """Values for one parameter, most telling first (as SQL literals)."""
    if use.op == "limit":
        return ["20"]
    if use.op == "recent":
        return [_literal(v) for v in RECENT]
    if not stats:
        return []
    mcv = stats.get("mcv") or []
    freqs = stats.get("mcf") or []
    hist = stats.get("histogram") or []
    if use.op == "=":
        values = []
        if mcv:
            values.append(mcv[0])
            rarest = mcv[freqs.index(min(freqs))] if freqs else mcv[-1]
            other_freq = _non_mcv_frequency(stats)
            if hist and other_freq is not None and other_freq < min(freqs or [1.0]):
                rarest = hist[len(hist) // 2]
            values.append(rarest)
        elif hist:
            values.append(hist[len(hist) // 2])
        return [_literal(v) for v in dict.fromkeys(values)]
    if use.op == "like":
        source = (mcv or hist)[:1]
        return [_literal(source[0][:3].replace("%", "").replace("_", "") + "%")] if source else []
    if use.op in _RANGE_OPS and len(hist) >= 3:
        newest = hist[-2] if use.op in (">", ">=") else hist[1]
        return [_literal(v) for v in dict.fromkeys([newest, hist[len(hist) // 2]])]
    return []


def _non_mcv_frequency(stats: dict[str, Any]) -> float | None:
    n_distinct, freqs = stats.get("n_distinct"), stats.get("mcf") or []
    if n_distinct is None:
        return None
    distinct = -n_distinct * max(stats.get("rows") or 1, 1) if n_distinct < 0 else n_distinct
    rest = distinct - len(freqs)
    if rest < 1:
        return None
    return max(0.0, 1 - sum(freqs) - (stats.get("null_frac") or 0)) / rest


def value_sets(uses: list[ParamUse], params: int, stats_of: Callable[[ParamUse], dict[str, Any] | None]) -> list[tuple[str, ...]]:
    """Up to MAX_SETS tuples of values, one per $1…$params; [] when a parameter has none."""
    choices: dict[int, list[str]] = {}
    for use in uses:
        values = _candidates(use, stats_of(use))
        if values and use.number not in choices:
            choices[use.number] = values
    if any(n not in choices for n in range(1, params + 1)):
        return []
    width = min(MAX_SETS, max(len(v) for v in choices.values()))
    return [tuple(choices[n][min(i, len(choices[n]) - 1)] for n in range(1, params + 1)) for i in range(width)]


def shares(rows: list[float], observed: float | None) -> list[float] | None:
    """Each value set's share of the calls: the mix of their estimated rows that gives the
    rows per call pg_stat_statements recorded. An even split when that tells nothing (no
    rows recorded, or every set returns as many: an aggregate); None when the recorded rows
    are far outside what any mix gives: these values are not the application's."""
    n = len(rows)
    low_rows, high_rows = min(rows), max(rows)
    if observed is None or high_rows <= low_rows:
        return [1.0 / n] * n
    if observed < low_rows / CONSISTENT or observed > high_rows * CONSISTENT:
        return None
    low, high = rows.index(low_rows), rows.index(high_rows)
    out = [0.0] * n
    if observed <= low_rows:
        out[low] = 1.0
    elif observed >= high_rows:
        out[high] = 1.0
    else:
        share_low = (high_rows - observed) / (high_rows - low_rows)
        out[low], out[high] = share_low, 1 - share_low
    return out


@dataclass
class Variant:
    """A statement with one set of representative values and its share of the calls."""

    statement: Statement
    values: tuple[str, ...]
    share: float
    plan: dict[str, Any]


def variants(statement: Statement, relations: dict[str, Relation], stats: Callable[[Relation, str], dict[str, Any] | None],
             plan: Callable[[Statement], dict[str, Any]]) -> list[Variant]:
    """The statement's value sets with their shares and plans; [] to keep the generic plan.
    `relations`: the generic plan's alias -> relation; `stats(relation, column)`."""
    uses = param_uses(statement.query)
    if not uses or statement.params == 0:
        return []

    def stats_of(use: ParamUse) -> dict[str, Any] | None:
        if use.alias is not None:
            relation = relations.get(use.alias)
            return stats(relation, use.column) if relation else None
        found = [s for s in (stats(r, use.column) for r in set(relations.values())) if s]
        return found[0] if len(found) == 1 else None

    sets = value_sets(uses, statement.params, stats_of)
    planned = []
    for values in sets:
        variant = replace(statement, values=values)
        planned.append((variant, plan(variant)))
    if not planned:
        return []
    observed = statement.rows / statement.calls if statement.calls and statement.rows else None
    weights = shares([float(p.get("Plan Rows") or 0) for _, p in planned], observed)
    if weights is None:
        return []
    kept = [(v, p, w) for (v, p), w in zip(planned, weights) if w >= MIN_SHARE]
    total = sum(w for _, _, w in kept)
    out = []
    for variant, plan_, weight in kept:
        share = weight / total
        variant = replace(variant, calls=max(1, round(statement.calls * share)), rows=round(statement.rows * share),
                          total_ms=statement.total_ms * share)
        out.append(Variant(variant, variant.values, share, plan_))
    return out


class ColumnValues:
    """pg_stats' values of the workload's tables, read once per table (the index's table:
    a partition's values are its partitioned parent's)."""

    def __init__(self, query: Query, table_of: Callable[[Relation], Any]):
        self.query = query
        self.table_of = table_of
        self.by_table: dict[Relation, dict[str, dict[str, Any]]] = {}

    def __call__(self, relation: Relation, column: str) -> dict[str, Any] | None:
        table = self.table_of(relation)
        if table is None:
            return None
        if table.relation not in self.by_table:
            columns: dict[str, dict[str, Any]] = {}
            for row in self.query("values", {"schema": table.schema, "name": table.name}):
                columns[row["column"]] = {**row, "rows": table.rows}  # inherited rows (ordered last) win
            self.by_table[table.relation] = columns
        return self.by_table[table.relation].get(column)
