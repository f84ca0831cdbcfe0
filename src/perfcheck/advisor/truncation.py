"""Expression constants that pg_stat_statements normalised away, recovered from statistics.

`date_trunc('day', ts) = $2` is kept as `date_trunc($1, ts) = $2`, `payload->>'k' = $2` as
`payload->>$1 = $2`: the expression an index would need is unknown. The constant is
recovered only where the statistics leave one answer; otherwise the statement gets no
expression index (never a guess), and the advice says why (`unrecovered`):

- the unit of `date_trunc($n, col)`: one of hour, day, week, month, the one whose rows per
  truncated value (the table's rows spread over the column's span, from its histogram)
  matches the rows per call pg_stat_statements recorded within a factor of 2 (the units
  are 4.3× or more apart, so at most one fits). Only on a `timestamp` column:
  `date_trunc(text, timestamptz)` depends on the time zone and cannot be indexed.
- the key of `col->>$n`: among the top-level keys of the documents pg_stats sampled (most
  common values and histogram bounds), the one key whose values' repetition in the sample
  is consistent with the rows per call (within CONSISTENT); none, or two, and there is no advice.

The statement is then planned with the constant written in (`date_trunc('day', ts) = $2`),
and its candidates are verified like any other; the recommendation names what was recovered.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import replace
from datetime import datetime
from typing import Any, Callable, Iterator

from pglast import ast, parse_sql
from pglast.parser import ParseError

from perfcheck.advisor.parameters import CONSISTENT
from perfcheck.advisor.predicates import Relation, walk_tree
from perfcheck.advisor.workload import Statement

UNITS = {"hour": 3600.0, "day": 86400.0, "week": 7 * 86400.0, "month": 30.44 * 86400.0}
UNIT_FIT = 2.0  # observed rows per call within this factor of a unit's rows per value

Stats = Callable[[Relation, str], "dict[str, Any] | None"]
Types = Callable[[Relation], "dict[str, tuple[str, str]]"]


def _unwrap(node: Any) -> Any:
    while isinstance(node, ast.TypeCast):
        node = node.arg
    return node


def _column(node: Any) -> tuple[str | None, str] | None:
    node = _unwrap(node)
    if isinstance(node, ast.ColumnRef) and all(isinstance(f, ast.String) for f in node.fields):
        names = [f.sval for f in node.fields]
        return (names[-2] if len(names) > 1 else None), names[-1]
    return None


def _param(node: Any) -> int | None:
    node = _unwrap(node)
    return node.number if isinstance(node, ast.ParamRef) else None


def normalised(query: str) -> Iterator[tuple[str, int, tuple[str | None, str]]]:
    """("date_trunc" or "->>", $n, (alias, column)) for each expression whose constant is a parameter."""
    if "->>" not in query and "date_trunc" not in query.lower():
        return  # most statements: no parse needed
    try:
        stmt = parse_sql(query)[0].stmt
    except (ParseError, IndexError):
        return
    for node in walk_tree(stmt):
        if isinstance(node, ast.FuncCall) and node.funcname[-1].sval == "date_trunc" and len(node.args or ()) == 2:
            number, column = _param(node.args[0]), _column(node.args[1])
            if number is not None and column is not None:
                yield "date_trunc", number, column
        elif isinstance(node, ast.A_Expr) and node.name and node.name[-1].sval == "->>" and node.lexpr is not None:
            number, column = _param(node.rexpr), _column(node.lexpr)
            if number is not None and column is not None:
                yield "->>", number, column


def _seconds(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def unit(stats: dict[str, Any] | None, rows: int, observed: float | None) -> str | None:
    """The date_trunc unit whose rows per value fit the rows per call, or None."""
    hist = (stats or {}).get("histogram") or []
    span = (_seconds(hist[-1]) or 0) - (_seconds(hist[0]) or 0) if len(hist) >= 2 else 0
    if span <= 0 or not observed or not rows:
        return None
    fits = [name for name, seconds in UNITS.items()
            if 1 / UNIT_FIT <= observed / (rows * min(1.0, seconds / span)) <= UNIT_FIT]
    return fits[0] if len(fits) == 1 else None


def json_key(stats: dict[str, Any] | None, rows: int, observed: float | None) -> str | None:
    """The one top-level key of the sampled documents consistent with the rows per call, or None."""
    docs = []
    for text in ((stats or {}).get("mcv") or []) + ((stats or {}).get("histogram") or []):
        try:
            value = json.loads(text)
        except ValueError:
            continue
        if isinstance(value, dict):
            docs.append(value)
    if not docs or not observed or not rows:
        return None
    fits = []
    for key in sorted({k for doc in docs for k in doc}):
        counts = Counter(json.dumps(doc[key], sort_keys=True) for doc in docs if key in doc)
        n = sum(counts.values())
        if max(counts.values()) == 1:  # every sampled value distinct: each is 1/n of the rows or rarer
            fit = observed <= CONSISTENT * rows / n
        else:  # the frequency of the value a random row holds
            expected = rows * sum((c / n) ** 2 for c in counts.values())
            fit = expected / CONSISTENT <= observed <= expected * CONSISTENT
        if fit:
            fits.append(key)
    return fits[0] if len(fits) == 1 else None


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def recover(statement: Statement, relations: dict[str, Relation], stats: Stats, types: Types,
            rows_of: Callable[[Relation], int], note: Callable[[str], None]) -> Statement | None:
    """The statement with its normalised expression constants written in, or None when there
    is none to recover or one cannot be (`note` says why)."""
    observed = statement.rows / statement.calls if statement.calls and statement.rows else None
    found: dict[int, str] = {}
    for kind, number, (alias, column) in normalised(statement.query):
        owners = [relations[alias]] if alias in relations else \
            [r for r in set(relations.values()) if column in types(r)] if alias is None else []
        if len(owners) != 1:
            continue
        relation = owners[0]
        type_name = types(relation).get(column, ("", ""))[0]
        if kind == "date_trunc":
            value = unit(stats(relation, column), rows_of(relation), observed) if type_name == "timestamp" else None
            why = ("date_trunc($n, …) of a timestamptz column: not indexable (it depends on the time zone)"
                   if type_name == "timestamptz" else
                   "date_trunc($n, …): no unit of hour, day, week, month fits the rows per call")
        else:
            value = json_key(stats(relation, column), rows_of(relation), observed) if type_name == "jsonb" else None
            why = "->>$n: the key normalised away is not told apart by pg_stats' sampled documents"
        if value is None:
            note(why)
            return None
        found[number] = _literal(value)
    if not found:
        return None
    query = statement.query
    for number, literal in found.items():
        query = re.sub(rf"\${number}(?!\d)", literal, query)
    return replace(statement, query=query, recovered=tuple((f"${n}", v) for n, v in sorted(found.items())))
