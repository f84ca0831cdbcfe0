"""Partition trees (the postgres.partitions fact), for the index checks: a foreign key
declared on a partitioned table holds on every partition, and a lookup on it reads each
leaf partition's own indexes, attached to a parent index or not."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from perfcheck.checks.support.indexes import Index, covers_columns

Table = tuple[str, str]  # (schema, name)


class Partitions:
    def __init__(self, rows: list[dict[str, Any]] | None):
        self.kind: dict[Table, str] = {}
        self.rows: dict[Table, int] = {}
        self.ancestors: dict[Table, list[Table]] = {}
        self.children: dict[Table, list[Table]] = defaultdict(list)
        for row in rows or []:
            table = (row["schema"], row["table"])
            self.kind[table], self.rows[table] = row["kind"], int(row.get("estimated_rows") or 0)
            self.ancestors[table] = list(zip(row["ancestor_schemas"], row["ancestor_tables"]))
            if self.ancestors[table]:
                self.children[self.ancestors[table][0]].append(table)
        for children in self.children.values():
            children.sort()

    def descendants(self, table: Table) -> list[Table]:
        """Every partition under `table`, parents before their children."""
        found: list[Table] = []
        for child in self.children.get(table, []):
            found.append(child)
            found.extend(self.descendants(child))
        return found

    def leaves(self, table: Table) -> list[Table]:
        """The partitions that hold rows (ordinary tables; a foreign table holds no index)."""
        return [t for t in self.descendants(table) if self.kind.get(t) == "r"]

    def rows_under(self, table: Table) -> int:
        return sum(self.rows.get(t, 0) for t in self.leaves(table))


def serves_by_name(index: Index, names: list[str]) -> bool:
    """Whether the index serves lookups on these columns, named: a partition's column numbers
    can differ from its parent's (a table created apart and attached, a dropped column)."""
    numbers = {name: attnum for attnum, name in zip(index["attnums"], index.get("columns") or []) if name and attnum}
    if not all(name in numbers for name in names):
        return False
    return covers_columns(index, {numbers[name] for name in names}, set(names))


FkKey = tuple[frozenset[int] | None, list[str]]  # attnums on the FK's own table (None on a partition), names


def fk_columns_by_table(fks: list[dict[str, Any]], partitions: Partitions) -> dict[Table, list[FkKey]]:
    """The columns of each foreign key, on its table and on every partition under it."""
    found: dict[Table, list[FkKey]] = defaultdict(list)
    for fk in fks:
        table, names = (fk["schema"], fk["table"]), list(fk.get("columns") or [])
        found[table].append((frozenset(fk["attnums"]), names))
        for partition in partitions.descendants(table):
            found[partition].append((None, names))
    return found


def serves_fk(index: Index, key: FkKey) -> bool:
    attnums, names = key
    return covers_columns(index, set(attnums), set(names)) if attnums is not None else serves_by_name(index, names)
