"""Helpers shared by `db.duplicate_indexes`, `db.fk_indexes`, `db.invalid_indexes`, `db.unused_indexes`."""

from __future__ import annotations

from typing import Any

from perfcheck.model import Applicability, Fix
from perfcheck.pg.names import qualified

Index = dict[str, Any]


def index_keys(index: Index) -> tuple[int, ...]:
    return tuple(index["attnums"][: index["key_columns"]])


def qualified_name(index: Index) -> str:
    return qualified(index["schema"], index["name"])


def drop_fix(index: Index) -> Fix:
    """Unsafe: the statistics are per server, so a replica or a monthly job may still use it."""
    return Fix((f"DROP INDEX CONCURRENTLY IF EXISTS {qualified_name(index)};",), Applicability.UNSAFE)


def covers_columns(index: Index, attnums: set[int]) -> bool:
    """Whether an index serves lookups on these columns: a valid, non-partial btree whose
    leading columns are exactly them (in any order), or a hash index on the one column."""
    if not index["is_valid"] or index["predicate"]:
        return False
    keys = index_keys(index)
    if index["method"] == "btree":
        return len(keys) >= len(attnums) and set(keys[: len(attnums)]) == attnums
    return index["method"] == "hash" and set(keys) == attnums
