"""The shape of a SQL statement from pg_stat_statements, read from pglast's parse tree:
which tables it touches, whether it asks for every column (`*`), looks rows up one key
at a time (`WHERE key = $1`), or pages with OFFSET.

Each distinct text is parsed once (memoised) and reduced to a small `Shape`; the parse
tree itself is not kept. pglast's JSON parse output is used rather than its Python node
objects: it is the same tree from the same parser (libpg_query), about five times faster
to build, which matters with thousands of statements."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterator


Node = dict[str, Any]


_KINDS = {"SelectStmt": "select", "InsertStmt": "insert", "UpdateStmt": "update",
          "DeleteStmt": "delete", "MergeStmt": "merge"}


DML = frozenset(_KINDS.values())


@dataclass(frozen=True)
class TableRef:
    schema: str | None
    name: str
    alias: str | None = None


@dataclass(frozen=True)
class Lookup:
    """A read of one table by equality on parameters: `WHERE a = $1 [AND b = $2 …]`."""

    table: TableRef
    columns: tuple[str, ...]  # sorted
    param_locations: tuple[int, ...]  # byte offsets of the $n compared with the columns
    limit_location: int | None  # byte offset of the LIMIT value, if any


@dataclass(frozen=True)
class Paging:
    """A SELECT that skips rows with OFFSET."""

    order_by: tuple[tuple[str, bool], ...]  # (column or expression, descending)
    has_limit: bool


@dataclass(frozen=True)
class Shape:
    kind: str  # select | insert | update | delete | merge | utility | unparsed
    tables: tuple[TableRef, ...] = ()  # every table read or written (CTE names excluded)
    star_tables: tuple[TableRef, ...] = ()  # tables whose every column the result asks for
    lookup: Lookup | None = None
    paging: Paging | None = None

    @property
    def is_dml(self) -> bool:
        return self.kind in DML


UNPARSED = Shape("unparsed")


@lru_cache(maxsize=20000)
def shape(query: str) -> Shape:
    """The shape of one statement; UNPARSED when pglast can't read it (truncated text,
    `<insufficient privilege>`)."""
    range_vars: list[Node] = []
    ctes: set[str] = set()

    def collect(node: Node) -> Node:
        # Called by the JSON decoder for every object: tables and CTE names are gathered
        # while the tree is built instead of walking it again.
        if "relname" in node:
            range_vars.append(node)
        elif "ctename" in node:
            ctes.add(node["ctename"])
        return node

    from pglast import parser  # why: ~25 ms to import; only audits that parse statements pay it

    try:
        tree = json.loads(parser.parse_sql_json(query), object_hook=collect)
    except Exception:  # pglast raises ParseError, but be safe on odd input
        return UNPARSED
    stmts = tree.get("stmts") or []
    if not stmts:
        return UNPARSED
    node_type, body = next(iter((stmts[0].get("stmt") or {}).items()), ("", {}))
    kind = _KINDS.get(node_type, "utility")
    if kind == "utility":
        return Shape("utility")
    tables = _unique(ref for ref in map(_table_ref, range_vars) if not (ref.schema is None and ref.name in ctes))
    if kind != "select":
        return Shape(kind, tables)
    return Shape(kind, tables, _star_tables(body, ctes), _lookup(body, ctes), _paging(body))


def batched(query: str, lookup: Lookup) -> str:
    """The lookup rewritten to fetch many keys in one round trip: `= $1` becomes
    `= ANY($1)` and a LIMIT (an ORM's `LIMIT 1`) is dropped."""
    raw = query.encode()
    cuts: list[tuple[int, int, bytes]] = []
    for loc in lookup.param_locations:
        match = re.match(rb"\$\d+", raw[loc:])
        if match:
            cuts.append((loc, loc + match.end(), b"ANY(" + match.group() + b")"))
    if lookup.limit_location is not None:
        start = raw.upper().rfind(b"LIMIT", 0, lookup.limit_location)
        match = re.match(rb"\s*(\$\d+|\d+|ALL)", raw[lookup.limit_location:], re.IGNORECASE)
        if start >= 0 and match:
            cuts.append((start, lookup.limit_location + match.end(), b""))
    for begin, end, text in sorted(cuts, reverse=True):
        raw = raw[:begin] + text + raw[end:]
    return re.sub(r"\s+", " ", raw.decode()).strip()


def _unique(refs: Iterator[TableRef]) -> tuple[TableRef, ...]:
    seen: dict[tuple[str | None, str], TableRef] = {}
    for ref in refs:
        seen.setdefault((ref.schema, ref.name), TableRef(ref.schema, ref.name))
    return tuple(seen.values())


def _table_ref(range_var: Node) -> TableRef:
    alias = (range_var.get("alias") or {}).get("aliasname")
    return TableRef(range_var.get("schemaname"), range_var["relname"], alias)


def _from_items(select: Node) -> tuple[list[TableRef], bool]:
    """The tables in a SELECT's FROM (joins flattened), and whether FROM also holds
    something that is not a table (a subquery, a function)."""
    tables: list[TableRef] = []
    other = False
    stack = list(reversed(select.get("fromClause") or []))
    while stack:
        item = stack.pop()
        if "RangeVar" in item:
            tables.append(_table_ref(item["RangeVar"]))
        elif "JoinExpr" in item:
            stack += [item["JoinExpr"]["rarg"], item["JoinExpr"]["larg"]]
        else:
            other = True
    return tables, other


def _name(field: Node) -> str | None:
    return (field.get("String") or {}).get("sval")


def _star_tables(select: Node, ctes: set[str]) -> tuple[TableRef, ...]:
    """Tables whose every column the result asks for: `SELECT *` / `SELECT t.*` at the
    top level (set operations followed; `EXISTS (SELECT * …)` is not a result)."""
    if select.get("op", "SETOP_NONE") != "SETOP_NONE":
        return _unique(iter([*_star_tables(select["larg"], ctes), *_star_tables(select["rarg"], ctes)]))
    tables, _ = _from_items(select)
    tables = [t for t in tables if not (t.schema is None and t.name in ctes)]
    found: list[TableRef] = []
    for target in select.get("targetList") or []:
        ref = (target.get("ResTarget") or {}).get("val", {}).get("ColumnRef")
        if not ref or "A_Star" not in ref["fields"][-1]:
            continue
        if len(ref["fields"]) == 1:
            found += tables
        else:
            qualifier = _name(ref["fields"][-2])
            found += [t for t in tables if (t.alias or t.name) == qualifier]
    return _unique(iter(found))


def _conjuncts(where: Node | None) -> list[Node]:
    if not where:
        return []
    boolean = where.get("BoolExpr")
    if boolean and boolean.get("boolop") == "AND_EXPR":
        return [part for arg in boolean["args"] for part in _conjuncts(arg)]
    return [where]


def _column_equals_param(expr: Node) -> tuple[str, int] | None:
    op = expr.get("A_Expr")
    if not op or op.get("kind") != "AEXPR_OP" or [_name(n) for n in op.get("name", [])] != ["="]:
        return None
    for column, param in ((op.get("lexpr"), op.get("rexpr")), (op.get("rexpr"), op.get("lexpr"))):
        if column and param and "ColumnRef" in column and "ParamRef" in param:
            name = _name(column["ColumnRef"]["fields"][-1])
            if name:
                return name, param["ParamRef"].get("location", -1)
    return None


def _lookup(select: Node, ctes: set[str]) -> Lookup | None:
    if select.get("op", "SETOP_NONE") != "SETOP_NONE" or select.get("limitOffset"):
        return None
    tables, other = _from_items(select)
    if other or len(tables) != 1 or (tables[0].schema is None and tables[0].name in ctes):
        return None
    pairs = [pair for expr in _conjuncts(select.get("whereClause")) if (pair := _column_equals_param(expr))]
    if not pairs:
        return None
    limit = select.get("limitCount")
    limit_location = None
    if limit:
        inner = next(iter(limit.values()))
        limit_location = inner.get("location") if isinstance(inner, dict) else None
    return Lookup(TableRef(tables[0].schema, tables[0].name), tuple(sorted({c for c, _ in pairs})),
                  tuple(loc for _, loc in pairs if loc >= 0), limit_location)


def _is_zero(node: Node) -> bool:
    const = node.get("A_Const")
    return bool(const) and "ival" in const and not const["ival"].get("ival")


def _paging(select: Node) -> Paging | None:
    offset = select.get("limitOffset")
    if select.get("op", "SETOP_NONE") != "SETOP_NONE" or not offset or _is_zero(offset):
        return None
    order: list[tuple[str, bool]] = []
    for item in select.get("sortClause") or []:
        sort = item.get("SortBy") or {}
        ref = (sort.get("node") or {}).get("ColumnRef")
        name = _name(ref["fields"][-1]) if ref else None
        order.append((name or "<expression>", sort.get("sortby_dir") == "SORTBY_DESC"))
    return Paging(tuple(order), bool(select.get("limitCount")))
