"""The SQL that builds a recommended index: the audit's fix, the migration file and what
`apply-indexes` runs. Pure text, no I/O.

A plain table gets one `CREATE INDEX CONCURRENTLY IF NOT EXISTS`. PostgreSQL cannot build
an index on a partitioned table concurrently, so there the parent index is created
`ON ONLY` (instant: it is only a catalog entry, invalid until every partition has its
index), each partition's index is built concurrently and then attached, which makes the
parent index valid. Every step is idempotent, so a run interrupted anywhere can be
repeated.
"""

from __future__ import annotations

from typing import Protocol

from perfcheck.pg.names import index_name, qualified, quote_ident


class IndexSpec(Protocol):
    """What the DDL of one index is made of (an advisor Recommendation is one)."""

    schema: str
    table: str
    name: str
    keys: list[str]
    method: str
    table_kind: str
    partitions: list[list[str]]


def key_words(keys: list[str]) -> list[str]:
    """Index keys as words for an index name: "(lower(email))" -> "lower_email"."""
    return [key.strip("()").replace(" DESC", " desc").replace(" NULLS ", " nulls ") for key in keys]


def partition_index_name(rec: IndexSpec, partition: str) -> str:
    # The words of the parent's name (analyse._words): a partial or INCLUDE index on the same
    # keys as a plain one must not take the plain one's name on each partition.
    kinds = (["incl"] if getattr(rec, "include", None) else []) + (["partial"] if getattr(rec, "where", None) else [])
    return index_name(partition, key_words(rec.keys) + kinds)


def create_statement(schema: str, table: str, name: str, keys: list[str], *, concurrently: bool = True,
                     only: bool = False, method: str = "btree", include: list[str] | None = None,
                     where: str | None = None) -> str:
    using = "" if method == "btree" else f" USING {method}"
    tail = (f" INCLUDE ({', '.join(include)})" if include else "") + (f" WHERE {where}" if where else "")
    return (f"CREATE INDEX {'CONCURRENTLY ' if concurrently else ''}IF NOT EXISTS {quote_ident(name)} "
            f"ON {'ONLY ' if only else ''}{qualified(schema, table)}{using} ({', '.join(keys)}){tail}")


def statements(rec: IndexSpec) -> list[str]:
    """The statements that build the index, in order (without trailing semicolons)."""
    extra = {"method": rec.method, "include": getattr(rec, "include", None), "where": getattr(rec, "where", None)}
    if rec.table_kind != "p":
        return [create_statement(rec.schema, rec.table, rec.name, rec.keys, **extra)]
    out = [create_statement(rec.schema, rec.table, rec.name, rec.keys, concurrently=False, only=True, **extra)]
    for part_schema, part in rec.partitions:
        part_name = partition_index_name(rec, part)
        out.append(create_statement(part_schema, part, part_name, rec.keys, **extra))
        out.append(f"ALTER INDEX {qualified(rec.schema, rec.name)} ATTACH PARTITION {qualified(part_schema, part_name)}")
    return out
