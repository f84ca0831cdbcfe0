"""Candidate indexes beyond plain btree keys, from the statement's text and the values it
was planned with (parameters.py). Each is tried as a hypothetical index like the others,
so the planner's cost decides:

- a partial index for a rare constant: `(other keys) WHERE status = 'failed'` when the
  value a statement was planned with is rare (PARTIAL_MAX_SHARE of the rows or less);
- `text_pattern_ops` for a LIKE prefix (a btree under a non-C collation cannot serve
  `LIKE 'ab%'`);
- one index per arm of an OR (`a = $1 OR b = $2`: two indexes, a BitmapOr);
- INCLUDE: the statement's few output columns added to a candidate's keys, for an
  index-only scan (not when it returns most of the row: that would copy the table).
"""

from __future__ import annotations

import re
from typing import Any, Callable

from pglast import ast, parse_sql
from pglast.enums import BoolExprType
from pglast.parser import ParseError
from pglast.stream import RawStream

from perfcheck.advisor.candidates import Candidate
from perfcheck.advisor.parameters import ParamUse, param_uses
from perfcheck.advisor.predicates import Key, Relation, walk_tree
from perfcheck.pg.names import quote_ident

PARTIAL_MAX_SHARE = 0.05  # a value this rare (share of rows) or rarer gets a partial index…
PARTIAL_SKEW = 10  # …when the column's most common value is this many times as frequent (an enumeration)
PARTIAL_MIN_CALLS = 0.5  # …and it stands for this share of the statement's calls or more
MAX_INCLUDE = 3  # output columns an INCLUDE may add
MAX_INCLUDE_WIDTH = 64  # their average width in bytes, together

_OR_WORD = re.compile(r"\bor\b", re.IGNORECASE)

Stats = Callable[[Relation, str], "dict[str, Any] | None"]


def _relation_of(use_alias: str | None, column: str, relations: dict[str, Relation], stats: Stats) -> Relation | None:
    if use_alias is not None:
        return relations.get(use_alias)
    found = [r for r in set(relations.values()) if stats(r, column)]
    return found[0] if len(found) == 1 else None


def _frequency(stats: dict[str, Any] | None, literal: str) -> float | None:
    if not stats or not stats.get("mcv"):
        return None
    value = literal[1:-1].replace("''", "'") if literal.startswith("'") else literal
    for mcv, freq in zip(stats["mcv"], stats.get("mcf") or []):
        if mcv == value:
            return float(freq)
    return None


def partial(uses: list[ParamUse], values: tuple[str, ...] | None, share_of_calls: float, relations: dict[str, Relation],
            stats: Stats, table_of: Callable[[Relation], Any], base: list[Candidate]) -> list[Candidate]:
    """Partial indexes for the rare constants of a skewed column that most of a statement's
    calls ask for (not one value of an evenly spread column: the application asks for all)."""
    out: list[Candidate] = []
    for use in uses:
        if use.op != "=" or not values or use.number > len(values) or share_of_calls < PARTIAL_MIN_CALLS:
            continue
        relation = _relation_of(use.alias, use.column, relations, stats)
        table = table_of(relation) if relation else None
        if table is None:
            continue
        literal = values[use.number - 1]
        column_stats = stats(relation, use.column)
        share = _frequency(column_stats, literal)
        if share is None or share > PARTIAL_MAX_SHARE or max(column_stats["mcf"]) < PARTIAL_SKEW * share:
            continue
        column = quote_ident(use.column)
        where = f"{column} = {literal}"
        keys_seen: set[tuple[Key, ...]] = set()
        for candidate in [c for c in base if c.table == table.relation] or [Candidate(table.relation, (Key(column),), 1)]:
            keys = tuple(k for k in candidate.keys if k.expr != column) or (Key(column),)
            if keys not in keys_seen:
                keys_seen.add(keys)
                out.append(Candidate(table.relation, keys, min(candidate.eq_keys, len(keys)), where=where))
    return out


def like_prefix(uses: list[ParamUse], relations: dict[str, Relation], stats: Stats,
                table_of: Callable[[Relation], Any]) -> list[Candidate]:
    """`col text_pattern_ops` for `col LIKE $n` (the prefix itself comes with the values)."""
    out = []
    for use in uses:
        if use.op != "like":
            continue
        relation = _relation_of(use.alias, use.column, relations, stats)
        table = table_of(relation) if relation else None
        if table is not None:
            out.append(Candidate(table.relation, (Key(f"{quote_ident(use.column)} text_pattern_ops"),), 1))
    return out


def or_arms(query: str, relations: dict[str, Relation], stats: Stats, table_of: Callable[[Relation], Any]) -> list[Candidate]:
    """One single-column candidate per arm of an OR whose arms compare columns with parameters."""
    if not _OR_WORD.search(query):
        return []  # no OR anywhere in the text: spare the parse
    try:
        stmt = parse_sql(query)[0].stmt
    except (ParseError, IndexError):
        return []
    out = []
    for node in walk_tree(stmt):
        if not (isinstance(node, ast.BoolExpr) and node.boolop == BoolExprType.OR_EXPR):
            continue
        for arm in node.args:
            text = _arm_text(arm)
            for use in (param_uses(text) if text else None) or []:
                relation = _relation_of(use.alias, use.column, relations, stats)
                table = table_of(relation) if relation else None
                if table is not None and use.op in ("=", ">", "<", ">=", "<="):
                    out.append(Candidate(table.relation, (Key(quote_ident(use.column)),), 1 if use.op == "=" else 0))
    return out


def _arm_text(arm: Any) -> str | None:
    try:
        return "SELECT 1 WHERE " + RawStream()(arm)
    except Exception:  # an arm pglast cannot print back: no candidate from it
        return None


def include(candidates: list[Candidate], outputs: dict[Relation, list[str]], table_of: Callable[[Relation], Any],
            width: Callable[[Any, str], int | None]) -> list[Candidate]:
    """Each candidate with the statement's other output columns of its table in INCLUDE,
    when they are few and narrow (an index-only scan then answers without the table)."""
    out = []
    for candidate in candidates:
        if candidate.where is not None or candidate.include:
            continue
        columns: list[str] = []
        for relation, names in outputs.items():
            table = table_of(relation)
            if table is not None and table.relation == candidate.table:
                columns += [n for n in names if n not in columns]
        keys = {k.expr for k in candidate.keys}
        extra = [c for c in columns if quote_ident(c) not in keys]
        if not extra or len(extra) > MAX_INCLUDE or len(columns) != len(set(columns)):
            continue
        table = table_of(candidate.table)
        if table is None or 2 * len(columns) > len(table.stats):
            continue  # most of the row (SELECT *): the index would be a second copy of the table
        widths = [width(table, c) for c in extra] if table else [None]
        if any(w is None for w in widths) or sum(widths) > MAX_INCLUDE_WIDTH:
            continue
        out.append(Candidate(candidate.table, candidate.keys, candidate.eq_keys,
                             include=tuple(quote_ident(c) for c in extra)))
    return out
