"""The workload: the statements of pg_stat_statements worth an index, top by total time.

Typed literals that pg_stat_statements normalised into text that does not parse
(`interval $2`) are first written as casts (`$2::interval`, see literals.py). Each
statement is parsed with pglast to keep only SELECT, UPDATE and DELETE that read a
user table (not perfcheck's own, not catalog queries, not utility statements), to count
its `$n` parameters for a generic plan, and to leave out unfiltered aggregates, which an
index does not serve. Identical texts run by several roles are merged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pglast import ast, parse_sql
from pglast.parser import ParseError

from perfcheck.advisor.literals import rewrite
from perfcheck.advisor.model import Options
from perfcheck.pg.names import OWN_TAG
from perfcheck.pg.stat_statements import HIDDEN_TEXT
from perfcheck.advisor.predicates import walk_tree

OWN_PREFIX = OWN_TAG
_SYSTEM_SCHEMAS = {"pg_catalog", "information_schema"}


@dataclass
class Statement:
    queryid: int | None
    query: str
    calls: int
    rows: int
    total_ms: float
    params: int  # the highest $n
    rewritten: bool = False  # typed literals written as casts to make it plannable (literals.py)
    values: tuple[str, ...] | None = None  # representative values (SQL literals) for $1…: a custom plan
    recovered: tuple[tuple[str, str], ...] | None = None  # constants normalised away, written back (truncation.py)

    @property
    def mean_ms(self) -> float:
        return self.total_ms / self.calls if self.calls else 0.0


def classify(query: str) -> tuple[str | None, int]:
    """(None, highest $n) for a statement to analyse, else (the reason to leave it out, 0)."""
    if query.lstrip().startswith(OWN_PREFIX) or query.rstrip().endswith(OWN_PREFIX):  # see sqlnames.tagged
        return "perfcheck's own", 0
    try:
        parsed = parse_sql(query)
    except ParseError:
        return "cannot be parsed", 0
    if len(parsed) != 1:
        return "cannot be parsed", 0
    stmt = parsed[0].stmt
    if not isinstance(stmt, (ast.SelectStmt, ast.UpdateStmt, ast.DeleteStmt)):
        return "not a SELECT, UPDATE or DELETE", 0
    if isinstance(stmt, ast.SelectStmt) and stmt.intoClause is not None:
        return "not a SELECT, UPDATE or DELETE", 0
    nodes = list(walk_tree(stmt))
    tables = [n for n in nodes if isinstance(n, ast.RangeVar)]
    ctes = {c.ctename for n in nodes if isinstance(n, ast.WithClause) for c in n.ctes}
    user_tables = [t for t in tables if t.schemaname not in _SYSTEM_SCHEMAS and not t.relname.startswith("pg_")
                   and not (t.schemaname is None and t.relname in ctes)]
    if not user_tables:
        return "reads no user table", 0
    if isinstance(stmt, ast.SelectStmt) and _unfiltered_aggregate(stmt):
        return "an unfiltered aggregate", 0
    params = max((n.number for n in nodes if isinstance(n, ast.ParamRef)), default=0)
    return None, params


def _unfiltered_aggregate(stmt: ast.SelectStmt) -> bool:
    """SELECT count(*) FROM t [GROUP BY …]: reads every row whatever the indexes."""
    if stmt.op != 0 or stmt.whereClause is not None or stmt.limitCount is not None:
        return False
    if any(not isinstance(item, ast.RangeVar) for item in stmt.fromClause or ()):
        return False  # a join or a subquery may still be filtered
    aggregated = bool(stmt.groupClause) or any(
        isinstance(n, ast.FuncCall) and (n.agg_star or n.agg_distinct or
                                         n.funcname[-1].sval in ("count", "sum", "avg", "min", "max"))
        for n in walk_tree(stmt.targetList))
    return aggregated


def select(rows: list[dict[str, Any]], options: Options) -> tuple[list[Statement], dict[str, int], int]:
    """The statements to analyse (top by total time), why the others were left out, and
    how many there were. A statement whose text had to be rewritten to be planned keeps
    the rewritten text (the one planned, also by apply-indexes after building)."""
    merged: dict[str, Statement] = {}
    skipped: dict[str, int] = {}

    def skip(reason: str) -> None:
        skipped[reason] = skipped.get(reason, 0) + 1

    for row in rows:
        query = row.get("query") or ""
        if query == HIDDEN_TEXT:
            skip("hidden (needs pg_read_all_stats)")
            continue
        entry = merged.get(query)
        if entry is None:
            merged[query] = Statement(row.get("queryid"), query, int(row.get("calls") or 0),
                                      int(row.get("rows") or 0), float(row.get("total_ms") or 0.0), 0)
        else:
            entry.calls += int(row.get("calls") or 0)
            entry.rows += int(row.get("rows") or 0)
            entry.total_ms += float(row.get("total_ms") or 0.0)
    total = len(merged)
    chosen: list[Statement] = []
    for statement in sorted(merged.values(), key=lambda s: s.total_ms, reverse=True):
        if statement.calls < options.min_calls:
            skip(f"fewer than {options.min_calls} calls")
            continue
        if statement.mean_ms < options.min_mean_ms:
            skip(f"mean time under {options.min_mean_ms} ms")
            continue
        text = rewrite(statement.query)
        reason, params = classify(text)
        if reason:
            skip(reason)
            continue
        if len(chosen) >= options.max_statements:
            skip(f"beyond the top {options.max_statements} by total time")
            continue
        statement.params = params
        statement.rewritten = text != statement.query
        statement.query = text
        chosen.append(statement)
    return chosen, skipped, total
