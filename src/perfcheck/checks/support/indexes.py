"""Helpers shared by `db.duplicate_indexes`, `db.fk_indexes`, `db.invalid_indexes`, `db.unused_indexes`."""

from __future__ import annotations

import re
from typing import Any

from perfcheck.model import Applicability, Fix
from perfcheck.pg.names import qualified

Index = dict[str, Any]


def index_keys(index: Index) -> tuple[int, ...]:
    return tuple(index["attnums"][: index["key_columns"]])


def qualified_name(index: Index) -> str:
    return qualified(index["schema"], index["name"])


def drop_fix(index: Index) -> Fix:
    """Unsafe: the statistics are per server, so a replica or a monthly job may still use it.
    An index of a partitioned table cannot be dropped CONCURRENTLY (PostgreSQL refuses)."""
    if index.get("table_kind") == "p":
        return Fix((f"DROP INDEX IF EXISTS {qualified_name(index)};",), Applicability.UNSAFE)
    return Fix((f"DROP INDEX CONCURRENTLY IF EXISTS {qualified_name(index)};",), Applicability.UNSAFE)


_NOT_NULL = re.compile(r'^("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*) IS NOT NULL$')


def not_null_columns(predicate: str | None) -> set[str] | None:
    """The columns of a predicate made only of `col IS NOT NULL` terms joined by AND
    (`((a IS NOT NULL) AND (b IS NOT NULL))` as pg_get_expr writes it), else None."""
    if not predicate:
        return None
    found = set()
    for term in re.split(r"\)\s+AND\s+\(", predicate.strip()):
        term = term.strip().strip("()").strip()
        match = _NOT_NULL.match(term)
        if not match:
            return None
        name = match.group(1)
        found.add(name[1:-1].replace('""', '"') if name.startswith('"') else name)
    return found


def covers_columns(index: Index, attnums: set[int], names: set[str] | None = None) -> bool:
    """Whether an index serves lookups on these columns: a valid btree whose leading columns
    are exactly them (in any order), or a hash index on the one column; non-partial, or
    partial on `col IS NOT NULL` of those columns (`names`), which an equality lookup implies."""
    if not index["is_valid"]:
        return False
    if index["predicate"]:
        not_null = not_null_columns(index["predicate"])
        if names is None or not_null is None or not not_null <= names:
            return False
    keys = index_keys(index)
    if index["method"] == "btree":
        return len(keys) >= len(attnums) and set(keys[: len(attnums)]) == attnums
    return index["method"] == "hash" and set(keys) == attnums


def partly_covers(index: Index, attnums: set[int], names: set[str] | None = None) -> bool:
    """A valid btree whose first column is one of these (a multi-column key): the lookup
    reads that column's matches through it and filters the rest, instead of a scan."""
    if not index["is_valid"] or index["method"] != "btree" or len(attnums) < 2 or not index_keys(index):
        return False
    if index["predicate"]:
        not_null = not_null_columns(index["predicate"])
        if names is None or not_null is None or not not_null <= names:
            return False
    return index_keys(index)[0] in attnums
