"""What a statement asks of each table, read from its plan with pglast.

The planner has already resolved everything a SQL-text advisor gets wrong: aliases,
CTEs (inlined or not), views (expanded to their base tables, with the views' own
filters), partitions (each scanned leaf), search_path and quoted identifiers. Its
`EXPLAIN (VERBOSE, FORMAT JSON)` output names every scanned relation with its schema and
a unique alias, and prints every condition with alias-qualified columns. This module
parses those conditions with pglast into predicates on (relation, column or expression):

- `eq`    column = value          - `in`   column = ANY(...) (an IN list)
- `null`  column IS NULL          - `range` <, <=, >, >= (BETWEEN becomes two of them)
- `join`  column = other_table.column (hash, merge and nested-loop conditions)
- a sort under a LIMIT (ORDER BY ... LIMIT n): the keys, with their directions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import re
from functools import lru_cache
from typing import Any, Iterator

from pglast import ast, parse_sql
from pglast.enums import A_Expr_Kind, BoolExprType, NullTestType, SortByDir, SortByNulls
from pglast.parser import ParseError
from pglast.stream import RawStream

from perfcheck.pg.names import quote_ident

Relation = tuple[str, str]  # (schema, name) as the catalog spells them

EQ_KINDS = ("eq", "in", "null", "join")
_RANGE_OPS = {"<", ">", "<=", ">="}
# Conditions printed by EXPLAIN that can hold a predicate on a relation.
_CONDITIONS = ("Filter", "Index Cond", "Recheck Cond", "Hash Cond", "Merge Cond", "Join Filter", "TID Cond")
# Nodes a sort can sit under between it and its LIMIT and still be served by an index order.
_PASS_THROUGH = {"Gather Merge", "Result", "Sort", "Incremental Sort", "Unique", "Subquery Scan"}
_PARTITION_ALIAS = re.compile(r"^(.+)_\d+$")


@dataclass(frozen=True)
class Key:
    """An index key: a column (quoted when needed) or an expression, with its order."""

    expr: str
    is_column: bool = True
    desc: bool = False
    nulls_first: bool | None = None  # None: the default for the direction

    @property
    def sql(self) -> str:
        """As written in CREATE INDEX: an expression needs its own parentheses."""
        text = self.expr if self.is_column else f"({self.expr})"
        if self.desc:
            text += " DESC"
        if self.nulls_first is not None and self.nulls_first != self.desc:
            text += " NULLS FIRST" if self.nulls_first else " NULLS LAST"
        return text

    def flipped(self) -> Key:
        nulls = None if self.nulls_first is None else not self.nulls_first
        return Key(self.expr, self.is_column, not self.desc, nulls)


@dataclass(frozen=True)
class Predicate:
    relation: Relation
    key: Key
    kind: str  # eq | in | null | range | join
    op: str = ""  # the operator of a range: <, <=, >, >=


@dataclass(frozen=True)
class SortNeed:
    relation: Relation
    keys: tuple[Key, ...]


@dataclass
class PlanFacts:
    """What one plan says: its cost, the relations it scans (alias -> relation), the
    predicates on them, a sort under a LIMIT, the indexes it uses, and each relation's
    conditions as normalised text (to match partial indexes)."""

    cost: float
    relations: dict[str, Relation] = field(default_factory=dict)
    predicates: list[Predicate] = field(default_factory=list)
    sorts: list[SortNeed] = field(default_factory=list)
    indexes: set[str] = field(default_factory=set)
    conjuncts: dict[Relation, set[str]] = field(default_factory=dict)
    seq_scanned: set[Relation] = field(default_factory=set)
    outputs: dict[Relation, list[str]] = field(default_factory=dict)  # plain columns a scan returns (INCLUDE)


def walk(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans") or []:
        yield from walk(child)


def walk_tree(node: Any) -> Iterator[Any]:
    """Every pglast node under `node`, itself included."""
    if isinstance(node, (list, tuple)):
        for item in node:
            yield from walk_tree(item)
    elif isinstance(node, ast.Node):
        yield node
        for name in node:
            yield from walk_tree(getattr(node, name))


def _parse_condition(text: str) -> ast.Node | None:
    """A fresh tree (the helpers below rewrite it in place; results are cached instead)."""
    try:
        return parse_sql(f"SELECT 1 WHERE {text}")[0].stmt.whereClause
    except ParseError:  # e.g. "(hashed SubPlan 1)": not SQL, nothing to index
        return None


def _conjuncts(node: ast.Node) -> list[ast.Node]:
    if isinstance(node, ast.BoolExpr) and node.boolop == BoolExprType.AND_EXPR:
        return [part for arg in node.args for part in _conjuncts(arg)]
    return [node]


def _aliases(node: ast.Node, default: str | None) -> set[str | None]:
    found: set[str | None] = set()
    for item in walk_tree(node):
        if isinstance(item, ast.ColumnRef):
            names = [f.sval for f in item.fields if isinstance(f, ast.String)]
            found.add(names[-2] if len(names) >= 2 else default)
        elif isinstance(item, ast.SubLink):
            found.add(None)  # a subquery: not a plain predicate
    return found


def _strip(node: ast.Node) -> ast.Node:
    """The expression without alias qualifiers and without casts of bare columns
    (`lower((u.email)::text)` -> `lower(email)`): how a person writes the index.
    Rewrites the tree in place: take aliases from it before."""
    for item in walk_tree(node):
        if isinstance(item, ast.ColumnRef):
            item.fields = (item.fields[-1],)
        for name in item:
            value = getattr(item, name)
            if isinstance(value, ast.TypeCast) and isinstance(value.arg, ast.ColumnRef):
                setattr(item, name, value.arg)
            elif isinstance(value, tuple) and any(isinstance(v, ast.TypeCast) for v in value):
                setattr(item, name, tuple(v.arg if isinstance(v, ast.TypeCast) and isinstance(v.arg, ast.ColumnRef) else v
                                          for v in value))
    if isinstance(node, ast.TypeCast) and isinstance(node.arg, ast.ColumnRef):
        node = node.arg
    return node


def key_of(node: ast.Node) -> Key | None:
    """The index key for one side of a condition: a column, or an expression over columns."""
    node = _strip(node)
    if isinstance(node, ast.ColumnRef):
        name = node.fields[-1]
        if not isinstance(name, ast.String):
            return None
        return Key(quote_ident(name.sval))
    if not any(isinstance(item, ast.ColumnRef) for item in walk_tree(node)):
        return None
    if any(isinstance(item, (ast.SubLink, ast.ParamRef)) for item in walk_tree(node)):
        return None
    return Key(RawStream()(node), is_column=False)


def conjunct_texts(text: str) -> set[str]:
    """A condition's conjuncts as comparable text (no qualifiers, no casts of columns), to
    match a partial index's predicate with a statement's filter."""
    parsed = _parse_condition(text)
    return {RawStream()(_strip(part)) for part in _conjuncts(parsed)} if parsed is not None else {text}


AliasPredicate = tuple[str, Key, str, str]  # (alias, key, kind, op): a predicate before aliases are resolved


def _classify(conjunct: ast.Node, default: str | None) -> list[AliasPredicate]:
    """Predicates in one conjunct, for each alias it constrains."""
    def one(aliases: set[str | None]) -> str | None:
        return next(iter(aliases)) if len(aliases) == 1 else None

    if isinstance(conjunct, ast.NullTest):
        alias, key = one(_aliases(conjunct.arg, default)), key_of(conjunct.arg)
        return [(alias, key, "null", "")] if alias and key and conjunct.nulltesttype == NullTestType.IS_NULL else []
    if isinstance(conjunct, ast.ColumnRef):  # WHERE active (a boolean column)
        alias, key = one(_aliases(conjunct, default)), key_of(conjunct)
        return [(alias, key, "eq", "")] if alias and key else []
    if not isinstance(conjunct, ast.A_Expr) or conjunct.rexpr is None or conjunct.lexpr is None:
        return []
    op = conjunct.name[-1].sval if conjunct.name else ""
    left, right = _aliases(conjunct.lexpr, default), _aliases(conjunct.rexpr, default)
    if conjunct.kind in (A_Expr_Kind.AEXPR_OP_ANY, A_Expr_Kind.AEXPR_IN) and op in ("=", "IN"):
        alias, key = one(left), key_of(conjunct.lexpr)
        return [(alias, key, "in", "")] if alias and key and not right else []
    if conjunct.kind != A_Expr_Kind.AEXPR_OP or (op != "=" and op not in _RANGE_OPS):
        return []
    if len(left) == 1 and len(right) == 1 and left != right and None not in left | right:
        if op != "=":
            return []
        # A join condition: each side is a candidate on its own table.
        sides = [(one(left), key_of(conjunct.lexpr)), (one(right), key_of(conjunct.rexpr))]
        return [(alias, key, "join", "") for alias, key in sides if key]
    for mine, aliases, others in ((conjunct.lexpr, left, right), (conjunct.rexpr, right, left)):
        alias = one(aliases)
        if alias and not others:
            key = key_of(mine)
            if mine is conjunct.rexpr:  # $1 < col reads as col > $1
                op = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}.get(op, op)
            return [(alias, key, "eq" if op == "=" else "range", "" if op == "=" else op)] if key else []
    return []


def _sort_under_limit(limit: dict[str, Any]) -> dict[str, Any] | None:
    node = limit
    while node.get("Plans"):
        children = [c for c in node["Plans"] if c.get("Parent Relationship") not in ("InitPlan", "SubPlan")]
        if node["Node Type"] == "Nested Loop":  # it returns rows in its outer side's order
            children = [c for c in children if c.get("Parent Relationship") == "Outer"]
        if len(children) != 1:
            return None
        node = children[0]
        if node["Node Type"] in ("Sort", "Incremental Sort"):
            return node
        if node["Node Type"] not in _PASS_THROUGH and node["Node Type"] != "Nested Loop":
            return None
    return None


@lru_cache(maxsize=4096)
def _sort_key(text: str) -> tuple[str, Key] | None:
    """(alias, key) of one Sort Key item, e.g. "o.created_at DESC"."""
    try:
        item = parse_sql(f"SELECT 1 ORDER BY {text}")[0].stmt.sortClause[0]
    except ParseError:
        return None
    aliases = _aliases(item.node, None)
    if len(aliases) != 1 or None in aliases:
        return None
    key = _key_of_sortby(item)
    return None if key is None else (next(iter(aliases)), key)


def parse_key(text: str) -> Key | None:
    """An index key as the advice writes it ("created_at DESC", "(lower(email))") as a Key."""
    try:
        item = parse_sql(f"SELECT 1 ORDER BY {text}")[0].stmt.sortClause[0]
    except ParseError:
        return None
    return _key_of_sortby(item)


def _key_of_sortby(item: ast.SortBy) -> Key | None:
    """A SortBy node as an index key, with its direction and NULLS placement."""
    key = key_of(item.node)
    if key is None:
        return None
    desc = item.sortby_dir == SortByDir.SORTBY_DESC
    nulls = {SortByNulls.SORTBY_NULLS_FIRST: True, SortByNulls.SORTBY_NULLS_LAST: False}.get(item.sortby_nulls)
    return Key(key.expr, key.is_column, desc, nulls)


@lru_cache(maxsize=16384)
def _condition(text: str, default: str | None) -> tuple[tuple[AliasPredicate, ...], tuple[tuple[str, str], ...]]:
    """One condition printed by EXPLAIN: its predicates, and its single-alias conjuncts as
    normalised text (alias, text). Cached: a workload's plans repeat the same conditions."""
    parsed = _parse_condition(text)
    if parsed is None:
        return (), ()
    predicates: list[AliasPredicate] = []
    conjuncts: list[tuple[str, str]] = []
    for conjunct in _conjuncts(parsed):
        aliases = _aliases(conjunct, default)
        predicates += _classify(conjunct, default)
        if len(aliases) == 1 and None not in aliases:
            conjuncts.append((next(iter(aliases)), RawStream()(_strip(conjunct))))
    return tuple(predicates), tuple(conjuncts)


def _sort_need(sort: dict[str, Any], alias_of: dict[str, Relation]) -> SortNeed | None:
    keys: list[Key] = []
    relations: set[Relation] = set()
    for text in sort.get("Sort Key") or []:
        found = _sort_key(text)
        if found is None or found[0] not in alias_of:
            return None
        relations.add(alias_of[found[0]])
        keys.append(found[1])
    if len(relations) != 1 or not keys:
        return None
    if keys[0].desc:  # a btree is read backwards as well: ORDER BY a DESC needs only (a)
        keys = [k.flipped() for k in keys]
    return SortNeed(next(iter(relations)), tuple(keys))


def _outputs(facts: PlanFacts, node: dict[str, Any]) -> None:
    """The plain columns a scan node returns ("o.total" -> "total"); none recorded when it
    returns an expression or the relation is scanned twice."""
    relation = (node["Schema"], node["Relation Name"])
    columns = []
    for item in node.get("Output") or []:
        match = _OUTPUT_COLUMN.match(item)
        if not match:
            facts.outputs[relation] = []
            return
        columns.append(match.group(1))
    facts.outputs[relation] = [] if relation in facts.outputs else columns


_OUTPUT_COLUMN = re.compile(r'^(?:[a-z_][a-z0-9_$]*\.)?([a-z_][a-z0-9_$]*)$')


def plan_facts(plan: dict[str, Any]) -> PlanFacts:
    """The predicates a plan (the "Plan" object of EXPLAIN (FORMAT JSON, VERBOSE)) applies."""
    facts = PlanFacts(cost=float(plan.get("Total Cost") or 0.0))
    nodes = list(walk(plan))
    for node in nodes:
        if "Relation Name" in node and "Alias" in node and node.get("Schema"):
            facts.relations[node["Alias"]] = (node["Schema"], node["Relation Name"])
        if node.get("Index Name"):
            facts.indexes.add(node["Index Name"])
        if node["Node Type"] == "Seq Scan" and node.get("Schema"):
            facts.seq_scanned.add((node["Schema"], node["Relation Name"]))
        if "Relation Name" in node and node.get("Schema"):
            _outputs(facts, node)
    # A partitioned table's own alias ("e") appears only above its Append, whose members
    # are its partitions aliased "e_1", "e_2"…: it stands for them (e.g. in a Sort Key).
    for node in nodes:
        if node["Node Type"] in ("Append", "Merge Append"):
            for child in node.get("Plans") or []:
                match = _PARTITION_ALIAS.match(child.get("Alias") or "")
                if match and match.group(1) not in facts.relations and child.get("Schema"):
                    facts.relations[match.group(1)] = (child["Schema"], child["Relation Name"])
    seen: set[Predicate] = set()
    for node in nodes:
        default = node.get("Alias") if "Relation Name" in node else None
        for label in _CONDITIONS:
            text = node.get(label)
            if not text:
                continue
            predicates, conjuncts = _condition(text, default)
            for alias, conjunct in conjuncts:
                if alias in facts.relations:
                    facts.conjuncts.setdefault(facts.relations[alias], set()).add(conjunct)
            for alias, key, kind, op in predicates:
                if alias in facts.relations:
                    predicate = Predicate(facts.relations[alias], key, kind, op)
                    if predicate not in seen:
                        seen.add(predicate)
                        facts.predicates.append(predicate)
        if node["Node Type"] == "Limit":
            sort = _sort_under_limit(node)
            need = _sort_need(sort, facts.relations) if sort else None
            if need and need not in facts.sorts:
                facts.sorts.append(need)
    return facts
