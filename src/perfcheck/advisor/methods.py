"""Index methods beyond btree: GIN for containment, BRIN for append-only time columns.

GIN serves JSONB containment and key existence (`@>`, `?`, `?|`, `?&`) and the array
operators (`@>`, `<@`, `&&`), which no btree serves. HypoPG 1.3 refuses GIN ("access method
gin is not supported"), so a GIN recommendation is never verified by cost: it is made only
for a statement that scans the whole of a big table (a sequential scan in its plan) with
such a condition, that no verified recommendation already helps, and that no existing
valid GIN index serves; it is labelled unverified with the reason. `jsonb_path_ops` (smaller,
faster) when the workload only ever uses `@>` on the column, the default `jsonb_ops` when it
also asks `?`, `?|` or `?&`, which `jsonb_path_ops` cannot answer.

BRIN (see `prefer_brin`) replaces a verified single-column btree on a date/time column
whose rows lie in the order of its values (pg_stats.correlation), on a very large table.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Iterator, Protocol

from pglast import ast, parse_sql
from pglast.parser import ParseError

from perfcheck.advisor.candidates import Candidate
from perfcheck.advisor.catalog import Catalog, Table
from perfcheck.advisor.model import Options, Recommendation
from perfcheck.advisor.predicates import Key, Relation, walk_tree
from perfcheck.advisor.work import QUERY_TEXT_CHARS, Work, recommendation
from perfcheck.pg.names import quote_ident

GIN_REASON = "HypoPG cannot simulate GIN indexes (access method gin is not supported), so its benefit is not verified by cost"
_JSONB_OPS = {"@>", "?", "?|", "?&"}
_ARRAY_OPS = {"@>", "<@", "&&"}
_FLIP = {"@>": "<@", "<@": "@>", "&&": "&&"}  # `$1 <@ col` is `col @> $1`
_TIME_TYPES = {"timestamptz", "timestamp", "date"}
BRIN_MIN_KEEP = 0.5  # BRIN must keep this share of the btree's cost reduction, for every statement…
BRIN_MAX_SIZE = 0.01  # …at this share of the btree's size or less

Query = Callable[[str, dict[str, Any]], list[dict[str, Any]]]


class ColumnTypes:
    """Each table's column types (name -> (type name, pg_type category)), read once."""

    def __init__(self, query: Query):
        self.query = query
        self.by_table: dict[Relation, dict[str, tuple[str, str]]] = {}

    def __call__(self, relation: Relation) -> dict[str, tuple[str, str]]:
        if relation not in self.by_table:
            rows = self.query("column_types", {"schemas": [relation[0]], "names": [relation[1]]})
            self.by_table[relation] = {r["column"]: (r["type"], r["category"]) for r in rows}
        return self.by_table[relation]


def _column(node: Any) -> tuple[str | None, str] | None:
    while isinstance(node, ast.TypeCast):
        node = node.arg
    if isinstance(node, ast.ColumnRef) and all(isinstance(f, ast.String) for f in node.fields):
        names = [f.sval for f in node.fields]
        return (names[-2] if len(names) > 1 else None), names[-1]
    return None


def _has_column(node: Any) -> bool:
    return any(isinstance(item, (ast.ColumnRef, ast.SubLink)) for item in walk_tree(node))


def containment(query: str) -> Iterator[tuple[str | None, str, str]]:
    """(alias, column, operator) of each `column op value` with a GIN operator in the statement."""
    if not any(op in query for op in ("@>", "<@", "&&", "?")):
        return  # most statements: no parse needed
    try:
        stmt = parse_sql(query)[0].stmt
    except (ParseError, IndexError):
        return
    for node in walk_tree(stmt):
        if not isinstance(node, ast.A_Expr) or not node.name or node.lexpr is None or node.rexpr is None:
            continue
        op = node.name[-1].sval
        left, right = _column(node.lexpr), _column(node.rexpr)
        if left and op in _JSONB_OPS | _ARRAY_OPS and not _has_column(node.rexpr):
            yield left[0], left[1], op
        elif right and op in _FLIP and not _has_column(node.lexpr):
            yield right[0], right[1], _FLIP[op]


def _resolve(alias: str | None, column: str, relations: dict[str, Relation], catalog: Catalog,
             types: ColumnTypes) -> tuple[Table, tuple[str, str]] | None:
    """The table (where an index belongs) and the type of a column the statement names."""
    if alias is not None:
        candidates = {relations[alias]} if alias in relations else set()
    else:
        candidates = set(relations.values())
    found = []
    for relation in candidates:
        table = catalog.table_for(relation)
        if table is not None and column in types(table.relation):
            found.append((table, types(table.relation)[column]))
    return found[0] if len(found) == 1 else None


def _served(existing: list[dict[str, Any]], column: str, ops: set[str]) -> bool:
    return any(row["key"] == quote_ident(column) and (row["opclass"] != "jsonb_path_ops" or ops <= {"@>"})
               for row in existing)


def gin(works: list[Work], catalog: Catalog, query: Query, types: ColumnTypes, options: Options,
        recommendations: list[Recommendation]) -> list[Recommendation]:
    """Unverified GIN recommendations for the statements (`works`, those with candidates
    considered) that scan a big table in full for a containment condition."""
    helped = {(use.queryid, use.query) for rec in recommendations for use in rec.statements}
    needs: dict[tuple[Relation, str], tuple[Table, str, set[str], list[Work]]] = {}
    for work in works:
        if (work.statement.queryid, work.statement.query[:QUERY_TEXT_CHARS]) in helped:
            continue
        scanned = {t.relation for t in map(catalog.table_for, work.base.seq_scanned) if t is not None}
        for alias, column, op in containment(work.statement.query):
            found = _resolve(alias, column, work.base.relations, catalog, types)
            if found is None:
                continue
            table, (type_name, category) = found
            kind = "jsonb" if type_name == "jsonb" and op in _JSONB_OPS else \
                "array" if category == "A" and op in _ARRAY_OPS else None
            if kind is None or table.rows < options.min_table_rows or table.relation not in scanned:
                continue
            _, _, ops, group = needs.setdefault((table.relation, column), (table, kind, set(), []))
            ops.add(op)
            if work not in group:
                group.append(work)
    out = []
    for (relation, column), (table, kind, ops, group) in sorted(needs.items()):
        existing = query("gin_indexes", {"schemas": [relation[0]], "names": [relation[1]]})
        if _served(existing, column, ops):
            continue
        opclass = " jsonb_path_ops" if kind == "jsonb" and ops == {"@>"} else ""
        candidate = Candidate(relation, (Key(quote_ident(column) + opclass),), 0, method="gin")
        rec = recommendation(table, candidate, group, verified=False)
        rec.unverified_reason = GIN_REASON
        out.append(rec)
    return out


class Hypothetical(Protocol):
    """What prefer_brin needs of analyse's hypothetical index set."""

    oid_of: dict[Candidate, int]

    def add(self, candidate: Candidate) -> bool: ...
    def remove(self, candidate: Candidate) -> None: ...
    def plan(self, work: Work) -> tuple[float, set[Candidate]] | None: ...


def _brin_column(candidate: Candidate, table: Table, types: ColumnTypes, options: Options) -> bool:
    key = candidate.keys[0] if len(candidate.keys) == 1 else None
    if key is None or not key.is_column or candidate.include or candidate.where or candidate.method != "btree":
        return False
    column = key.expr[1:-1].replace('""', '"') if key.expr.startswith('"') else key.expr
    correlation = (table.stats.get(column) or {}).get("correlation")
    return (table.rows >= options.brin_min_rows and correlation is not None
            and abs(correlation) >= options.brin_min_correlation
            and types(table.relation).get(column, ("", ""))[0] in _TIME_TYPES)


def prefer_brin(chosen: set[Candidate], gains: list[Work], hypothetical: Hypothetical, size: Callable[[int], int],
                catalog: Catalog, types: ColumnTypes, options: Options) -> dict[Candidate, int]:
    """Replace a chosen btree by a BRIN on the same column where that is the better trade;
    returns each BRIN chosen with the size of the btree it replaced.

    The rule: BRIN is recommended when, for every statement the btree served, it keeps
    BRIN_MIN_KEEP (half) or more of the btree's planner-cost reduction, and still passes
    min_saving on its own, at BRIN_MAX_SIZE (1 %) or less of the btree's size (both measured
    with HypoPG). PostgreSQL's costing never lets a BRIN tie a btree: it prices the bitmap
    heap scan of whole block ranges and their recheck, from the correlation, pessimistically.
    On 1.2M append-only rows, `at > now() - interval '1 hour'` costs 16,249 as a sequential
    scan, 10 with a btree (36 MB) and 6,908 with a BRIN (24 KB): "the planner prefers it" or
    "nearly as cheap" would never choose a BRIN, though it keeps more than half the gain at
    a thousandth of the size and next to no upkeep on appends. Half the gain for a hundredth
    of the size is the trade this rule accepts; a btree stays when the BRIN keeps less (a
    column not in disk order: each block range spans every value)."""
    replaced: dict[Candidate, int] = {}
    for candidate in sorted(chosen, key=lambda c: c.key_sql):
        table = catalog.tables[candidate.table]
        if not _brin_column(candidate, table, types, options):
            continue
        helped = [w for w in gains if candidate in w.used]
        btree_size = size(hypothetical.oid_of[candidate])
        brin = replace(candidate, method="brin", eq_keys=0)
        hypothetical.remove(candidate)
        results = [hypothetical.plan(w) for w in helped] if hypothetical.add(brin) else [None]
        keeps = all(r is not None and brin in r[1] and r[0] <= (1 - options.min_saving) * w.base.cost
                    and w.base.cost - r[0] >= BRIN_MIN_KEEP * (w.base.cost - w.cost)
                    for w, r in zip(helped, results))
        small = keeps and size(hypothetical.oid_of[brin]) <= BRIN_MAX_SIZE * btree_size
        if not small:
            if brin in hypothetical.oid_of:
                hypothetical.remove(brin)
            hypothetical.add(candidate)
            continue
        chosen.discard(candidate)
        chosen.add(brin)
        replaced[brin] = btree_size
        for work, result in zip(helped, results):
            work.cost, work.used = result
    return replaced
