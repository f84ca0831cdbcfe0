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

from datetime import datetime, timezone

from perfcheck.pg.names import index_name, qualified, quote_ident
from perfcheck.units import format_bytes
from perfcheck.advisor.model import Advice, Recommendation


def key_words(keys: list[str]) -> list[str]:
    """Index keys as words for an index name: "(lower(email))" -> "lower_email"."""
    return [key.strip("()").replace(" DESC", " desc").replace(" NULLS ", " nulls ") for key in keys]


def partition_index_name(rec: Recommendation, partition: str) -> str:
    return index_name(partition, key_words(rec.keys))


def create_statement(schema: str, table: str, name: str, keys: list[str], *, concurrently: bool = True,
                     only: bool = False, method: str = "btree") -> str:
    using = "" if method == "btree" else f" USING {method}"
    return (f"CREATE INDEX {'CONCURRENTLY ' if concurrently else ''}IF NOT EXISTS {quote_ident(name)} "
            f"ON {'ONLY ' if only else ''}{qualified(schema, table)}{using} ({', '.join(keys)})")


def statements(rec: Recommendation) -> list[str]:
    """The statements that build the index, in order (without trailing semicolons)."""
    if rec.table_kind != "p":
        return [create_statement(rec.schema, rec.table, rec.name, rec.keys, method=rec.method)]
    out = [create_statement(rec.schema, rec.table, rec.name, rec.keys, concurrently=False, only=True, method=rec.method)]
    for part_schema, part in rec.partitions:
        part_name = partition_index_name(rec, part)
        out.append(create_statement(part_schema, part, part_name, rec.keys, method=rec.method))
        out.append(f"ALTER INDEX {qualified(rec.schema, rec.name)} ATTACH PARTITION {qualified(part_schema, part_name)}")
    return out


def migration(advice: Advice, recommendations: list[Recommendation] | None = None, *, source: str = "") -> str:
    """A SQL migration with every recommended index, for teams whose deploy runs migrations."""
    recs = advice.recommendations if recommendations is None else recommendations
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    lines = [
        f"-- Indexes recommended by perfcheck ({'verified with HypoPG' if advice.verified else 'UNVERIFIED: HypoPG was not installed, estimated from column statistics'}), {stamp}{' for ' + source if source else ''}.",
        "-- CREATE INDEX CONCURRENTLY cannot run inside a transaction block: run this file without",
        "-- a wrapping transaction (psql -f, or mark the migration non-transactional).",
        "-- Every statement is idempotent; if a concurrent build fails it leaves an INVALID index:",
        "-- DROP INDEX CONCURRENTLY it and run the file again (perfcheck apply-indexes does this for you).",
        "SET lock_timeout = '10s';",
        "",
    ]
    if not recs:
        lines.append("-- No missing index was found.")
    for rec in recs:
        helped = ", ".join(str(s.queryid) for s in rec.statements[:5])
        lines.append(f"-- {rec.label}: helps {len(rec.statements)} statement(s) (queryid {helped}), "
                     f"estimated size {format_bytes(rec.size_bytes)}")
        lines += [f"{statement};" for statement in statements(rec)]
        lines.append(f"ANALYZE {rec.qualified_table};")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


