"""What the advisor needs to know about the tables the workload scans: where an index
belongs (a partition's index goes on the top of its tree), how big each table is, the
indexes it has, and its column statistics. Read once, for the relations seen in plans."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from perfcheck.advisor.predicates import Key, Relation, conjunct_texts

Query = Callable[[str, dict[str, Any]], list[dict[str, Any]]]


@dataclass
class ExistingIndex:
    name: str
    method: str
    keys: list[Key]
    valid: bool
    predicate: set[str] | None  # normalised conjuncts of a partial index's WHERE


@dataclass
class Table:
    schema: str
    name: str
    kind: str  # r, p, m…
    rows: int = 0
    partitions: list[Relation] = field(default_factory=list)
    nested_partitions: bool = False  # partitions that are partitioned themselves
    indexes: list[ExistingIndex] = field(default_factory=list)
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)  # column -> pg_stats row

    @property
    def relation(self) -> Relation:
        return (self.schema, self.name)

    def distinct(self, key: Key) -> float:
        """Estimated distinct values of a key (pg_stats' n_distinct, negative = a share of rows)."""
        row = self.stats.get(_bare(key.expr))
        if not row or row.get("n_distinct") is None:
            return 0.0
        n = float(row["n_distinct"])
        return -n * max(self.rows, 1) if n < 0 else n


def _bare(expr: str) -> str:
    return expr[1:-1].replace('""', '"') if expr.startswith('"') and expr.endswith('"') else expr


def _key(text: str, option: int) -> Key:
    """An existing index key as the candidates spell theirs."""
    from pglast import parse_sql
    from pglast.parser import ParseError

    from perfcheck.advisor.predicates import key_of

    desc, nulls_first = bool(option & 1), bool(option & 2)
    try:
        node = parse_sql(f"SELECT {text}")[0].stmt.targetList[0].val
        key = key_of(node)
    except ParseError:
        key = None
    expr, is_column = (key.expr, key.is_column) if key else (text, False)
    return Key(expr, is_column, desc, None if nulls_first == desc else nulls_first)


def _pairs(relations: set[Relation]) -> dict[str, list[str]]:
    ordered = sorted(relations)
    return {"schemas": [r[0] for r in ordered], "names": [r[1] for r in ordered]}


class Catalog:
    def __init__(self, query: Query):
        self.query = query
        self.root_of: dict[Relation, Relation] = {}
        self.tables: dict[Relation, Table] = {}

    def load(self, relations: set[Relation]) -> None:
        """Learn about these scanned relations (and the tables their indexes belong on)."""
        relations = {r for r in relations if r not in self.root_of}
        if not relations:
            return
        rows = self.query("relations", _pairs(relations))
        new_roots: dict[Relation, Table] = {}
        leaf_rows: dict[Relation, int] = {}
        for row in rows:
            root = (row["root_schema"], row["root_name"])
            self.root_of[(row["schema"], row["name"])] = root
            leaf_rows[(row["schema"], row["name"])] = row["rows"]
            if root not in self.tables and root not in new_roots:
                new_roots[root] = Table(root[0], root[1], row["root_kind"])
        for table in new_roots.values():
            if table.kind != "p":
                table.rows = leaf_rows.get(table.relation, 0)
        partitioned = {r for r, t in new_roots.items() if t.kind == "p"}
        if partitioned:
            for row in self.query("partitions", _pairs(partitioned)):
                table = new_roots[(row["root_schema"], row["root_name"])]
                table.partitions.append((row["schema"], row["name"]))
                table.rows += row["rows"]
                if row["level"] > 1:
                    table.nested_partitions = True
        if not new_roots:
            return
        for row in self.query("indexes", _pairs(set(new_roots))):
            predicate = conjunct_texts(row["predicate"]) if row["predicate"] else None
            keys = [_key(text, option) for text, option in zip(row["keys"], row["options"])]
            new_roots[(row["schema"], row["table"])].indexes.append(
                ExistingIndex(row["name"], row["method"], keys, bool(row["is_valid"] and row["is_ready"]), predicate))
        stats_for = set(new_roots) | {p for t in new_roots.values() for p in t.partitions[:1]}
        for row in self.query("stats", _pairs(stats_for)):
            relation = (row["schema"], row["table"])
            table = new_roots.get(relation) or next((t for t in new_roots.values() if relation in t.partitions), None)
            if table is None:
                continue
            # A partitioned parent's own (inherited) statistics win over its first partition's.
            if row["column"] not in table.stats or row["inherited"]:
                table.stats[row["column"]] = row
        self.tables.update(new_roots)

    def table_for(self, relation: Relation) -> Table | None:
        root = self.root_of.get(relation)
        return self.tables.get(root) if root else None

