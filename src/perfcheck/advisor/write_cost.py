"""A write-heavy table gets fewer indexes: each recommendation's benefit weighed against
what maintaining it would cost the table's writes.

Every row written adds index entries: an insert one per index, an update one per index
unless it is a HOT update (no indexed column changed, room on the page), and a delete
leaves an entry that VACUUM must find and remove. pg_stat_user_tables counts them
(n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del) since the database's statistics were
reset (or the server started). The cost model is one constant, `index_entry_ms`, the
time an index entry costs the writes (insertion, WAL, the later VACUUM), per entry:

    entries/s   = (inserted + deleted + non-HOT updates [+ HOT updates that would change
                   one of the index's columns]) × share of rows in a partial index / period
    write cost  = entries/s × index_entry_ms                        (ms per second)
    benefit     = the time the index saves its statements / pg_stat_statements' period

The default, 0.02 ms, is about three times what `benchmarks/index_entry_cost.py` measures
for bulk inserts (5-7 µs an entry, WAL and checkpoint included): an application's
single-row writes, the index's share of VACUUM and its cache misses cost more.

HOT updates count only when an UPDATE of the workload sets one of the index's columns:
the new index would then make those updates non-HOT. A recommendation whose benefit does
not exceed `min_benefit_over_writes` × its write cost is set aside ("not recommended:
table is write-heavy"), with both figures; the others carry theirs. Statistics younger
than `min_write_stats_s` (an hour by default) are not weighed at all: the bulk load that
filled a table would pass for the application's writes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from pglast import ast, parse_sql
from pglast.parser import ParseError
from psycopg import sql

from perfcheck.advisor.model import Options, Recommendation
from perfcheck.advisor.predicates import Relation, walk_tree
from perfcheck.advisor.workload import Statement
from perfcheck.pg.session import Session

Query = Callable[[str, dict[str, Any]], list[dict[str, Any]]]
Plan = Callable[[Statement], dict[str, Any]]


@dataclass(frozen=True)
class Writes:
    """A table's rows written since its statistics began, over `seconds`."""

    inserted: int
    updated: int
    hot_updated: int
    deleted: int
    seconds: float


def table_writes(query: Query, tables: set[Relation]) -> dict[Relation, Writes]:
    if not tables:
        return {}
    ordered = sorted(tables)
    rows = query("write_rates", {"schemas": [t[0] for t in ordered], "names": [t[1] for t in ordered]})
    return {(r["schema"], r["name"]): Writes(int(r["inserted"]), int(r["updated"]), int(r["hot_updated"]),
                                             int(r["deleted"]), max(float(r["seconds"] or 0.0), 1.0)) for r in rows}


def statements_seconds(session: Session, extensions: dict[str, Any], fallback: float) -> float:
    """The period pg_stat_statements' calls were counted over (PostgreSQL 14+); before
    that, or after a partial reset it cannot see, the database statistics' period."""
    ext = extensions.get("pg_stat_statements")
    if not ext:
        return fallback
    schema = ext["schema"]
    present = session.rows("", text="/* perfcheck */ SELECT to_regclass(%(name)s) IS NOT NULL AS present",
                           params={"name": f'"{schema}".pg_stat_statements_info'}, prepare=False)
    if not present or not present[0]["present"]:
        return fallback
    text = session.text("statements_period").format(schema=sql.Identifier(schema).as_string(session.conn))
    rows = session.rows("statements_period", text=text, prepare=False)
    seconds = rows[0]["seconds"] if rows else None
    return max(float(seconds), 1.0) if seconds is not None else fallback


def updated_columns(statement_rows: list[dict[str, Any]]) -> dict[str, set[str]]:
    """The columns each table's UPDATE statements set, by table name (unqualified: a
    statement names its table as the application's search_path resolves it)."""
    out: dict[str, set[str]] = {}
    for row in statement_rows:
        text = row.get("query") or ""
        if "update" not in text.lower():
            continue
        try:
            parsed = parse_sql(text)
        except ParseError:
            continue
        for node in (n for p in parsed for n in walk_tree(p.stmt)):
            if isinstance(node, ast.UpdateStmt) and node.relation is not None:
                columns = out.setdefault(node.relation.relname, set())
                columns.update(t.name for t in node.targetList or () if isinstance(t, ast.ResTarget) and t.name)
    return out


def _touches(rec: Recommendation, columns: set[str]) -> bool:
    """Whether the index would hold one of these columns (as a key, in an expression,
    INCLUDE or its predicate): updates setting it then stop being HOT."""
    text = " ".join([*rec.keys, *rec.include, rec.where or ""])
    words = {w.strip('"') for w in re.findall(r'"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*', text)}
    return bool(words & columns)


def _partial_share(rec: Recommendation, plan: Plan) -> float:
    """The share of the table's rows a partial index holds (the planner's estimate of its
    predicate); 1.0 for a full index or when it cannot be estimated."""
    if not rec.where or rec.table_rows <= 0:
        return 1.0
    text = f'SELECT 1 FROM "{rec.schema}"."{rec.table}" WHERE {rec.where}'
    try:
        rows = float(plan(Statement(None, text, 0, 0, 0.0, 0)).get("Plan Rows") or 0.0)
    except Exception:  # a predicate the planner refuses: count every row, the safe side
        return 1.0
    return min(1.0, rows / rec.table_rows)


def weigh(recommendations: list[Recommendation], writes: dict[Relation, Writes], updated: dict[str, set[str]],
          statements_s: float, options: Options, plan: Plan) -> tuple[list[Recommendation], list[Recommendation]]:
    """(recommended, set aside as not worth the writes), each with its figures filled in."""
    kept, set_aside = [], []
    for rec in recommendations:
        w = writes.get((rec.schema, rec.table))
        if w is None:
            kept.append(rec)
            continue
        entries = w.inserted + w.deleted + max(0, w.updated - w.hot_updated)
        if w.hot_updated and _touches(rec, updated.get(rec.table, set())):
            entries += w.hot_updated
        writes_per_s = entries * _partial_share(rec, plan) / w.seconds
        benefit_ms = rec.saved_ms if rec.verified else rec.total_ms  # unverified: at most the statements' time
        cost, benefit = writes_per_s * options.index_entry_ms, (benefit_ms or 0.0) / statements_s
        rec.writes_per_s, rec.write_cost_ms_per_s, rec.benefit_ms_per_s = round(writes_per_s, 3), round(cost, 4), round(benefit, 4)
        worth = cost == 0 or benefit > options.min_benefit_over_writes * cost
        (kept if worth else set_aside).append(rec)
    return kept, set_aside


def split(recommendations: list[Recommendation], own: Session, extensions: dict[str, Any],
          statement_rows: list[dict[str, Any]], options: Options,
          plan: Plan) -> tuple[list[Recommendation], list[Recommendation], float | None]:
    """The advisor's hook: read the tables' writes and the statements' period, then weigh.
    Also returns the age of the write statistics (None: nothing to weigh). Statistics
    younger than `min_write_stats_s` are not weighed: the load that filled the tables
    would pass for the application's writes (a restore, a seed, a fresh server)."""
    if not recommendations:
        return [], [], None
    writes = table_writes(lambda name, params: own.rows(name, params, prepare=False),
                          {(r.schema, r.table) for r in recommendations})
    age = max((w.seconds for w in writes.values()), default=None)
    if age is None or age < options.min_write_stats_s:
        return recommendations, [], age
    period = statements_seconds(own, extensions, age)
    return (*weigh(recommendations, writes, updated_columns(statement_rows), period, options, plan), age)
