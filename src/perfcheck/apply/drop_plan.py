"""What `perfcheck apply-indexes --drop` would drop, and what it keeps and why. Read-only.

The candidates are the findings of db.unused_indexes, db.duplicate_indexes and
db.invalid_indexes (judged with the configured thresholds), and the unscanned indexes
db.unused_indexes keeps for a foreign key (listed as kept). Each is then read again from
the catalog and kept, with the reason, when it:
- backs a constraint (pg_constraint.conindid: a primary key, UNIQUE, EXCLUDE, or the
  unique index another table's foreign key references): DROP INDEX would fail or drop
  what the constraint enforces;
- is a replica identity (indisreplident): logical replication identifies rows by it;
- is the last index serving a foreign key once the other drops of this plan are done:
  a DELETE on the referenced table would scan the referencing table for each row;
- is a partition's index attached to a partitioned index: PostgreSQL drops it only with
  its parent;
- is on a partitioned table (PostgreSQL refuses DROP INDEX CONCURRENTLY there): only
  with --allow-locking-drop, as a plain DROP INDEX that locks the table;
- is INVALID and being built by a live session, or INVALID and unique (it still checks
  new rows for duplicates);
- is unused by statistics younger than drop_min_stats_days: not proven unused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from perfcheck.apply.build import builders
from perfcheck.checks.db.unused_indexes import stats_age_days
from perfcheck.checks.support.indexes import covers_columns
from perfcheck.collectors import Unavailable
from perfcheck.collectors.postgres.collector import PostgresCollector
from perfcheck.config import Config
from perfcheck.pg.names import qualified, tagged
from perfcheck.pg.session import connect
from perfcheck.registry import Check, load_checks
from perfcheck.runner import judge, thresholds_for

SOURCES = {"db.unused_indexes": "unused", "db.duplicate_indexes": "duplicate", "db.invalid_indexes": "invalid"}
FACTS = ["postgres.server", "postgres.indexes", "postgres.foreign_keys"]
REPLICAS = ("replicas keep their own statistics: an index unused here may serve queries on a standby "
            "(check pg_stat_user_indexes there too)")

# One index as it is now, with what a drop must respect.
INDEX = (
    "SELECT c.oid::bigint AS oid, n.nspname AS schema, c.relname AS name, t.relname AS table, "
    "t.oid::bigint AS table_oid, c.relkind::text AS kind, i.indisvalid AS valid, i.indisready AS ready, "
    "i.indisunique AS is_unique, i.indisreplident AS replica_identity, c.relispartition AS is_partition, "
    "(SELECT string_agg(format('%%s (%%s)', con.conname, CASE con.contype WHEN 'p' THEN 'primary key' "
    "WHEN 'u' THEN 'unique' WHEN 'x' THEN 'exclusion' WHEN 'f' THEN 'a foreign key of ' || con.conrelid::regclass "
    "ELSE con.contype::text END), ', ' ORDER BY con.conname) FROM pg_constraint con WHERE con.conindid = c.oid) "
    "AS constraints, "
    "(SELECT h.inhparent::regclass::text FROM pg_inherits h WHERE h.inhrelid = c.oid) AS parent, "
    "pg_get_indexdef(c.oid) AS definition, "
    "CASE WHEN c.relkind = 'I' THEN (SELECT sum(pg_relation_size(relid)) FROM pg_partition_tree(c.oid)) "
    "ELSE pg_relation_size(c.oid) END::bigint AS size_bytes "
    "FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid JOIN pg_namespace n ON n.oid = c.relnamespace "
    "JOIN pg_class t ON t.oid = i.indrelid WHERE n.nspname = %s AND c.relname = %s")


@dataclass
class DropItem:
    schema: str
    name: str
    table: str
    source: str  # unused | duplicate | invalid
    why: str  # the finding's message: why it is a candidate
    restore: str = ""  # the CREATE INDEX that builds it again
    size_bytes: int = 0
    partitioned: bool = False  # an index of a partitioned table: plain DROP INDEX, locking
    keep: str = ""  # why it is kept ("" when it is dropped)

    @property
    def qualified(self) -> str:
        return qualified(self.schema, self.name)

    @property
    def statement(self) -> str:
        how = "" if self.partitioned else "CONCURRENTLY "
        return f"DROP INDEX {how}IF EXISTS {self.qualified}"


@dataclass
class DropPlan:
    drops: list[DropItem] = field(default_factory=list)
    kept: list[DropItem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    stats_age_days: float | None = None


def restore_statement(found: dict[str, Any]) -> str:
    """pg_get_indexdef, built concurrently where PostgreSQL can (not on a partitioned table)."""
    definition = found["definition"]
    if found["kind"] == "I":
        return definition
    return definition.replace(" INDEX ", " INDEX CONCURRENTLY ", 1)


def plan(config: Config, url: str, *, allow_locking: bool = False) -> DropPlan:
    """The drop plan for this database (raises TargetError when it can't be reached)."""
    checks = {cid: check for cid, check in load_checks().checks.items() if cid in SOURCES}
    thresholds = {cid: thresholds_for(check, config) for cid, check in checks.items()}
    facts = _facts(config, url, thresholds)
    out = DropPlan(stats_age_days=stats_age_days(facts["postgres.server"]))
    items = _candidates(checks, thresholds, facts, out)
    conn = connect(url, config.section("postgres"))
    try:
        query = lambda text, params: conn.execute(tagged(text), params, prepare=False).fetchall()  # noqa: E731
        _safeguard(items, facts, query, allow_locking, out)
    finally:
        conn.close()
    out.notes.append(REPLICAS)  # always: what "unused" means on this server says nothing of a standby
    return out


class PlanError(Exception):
    """The indexes could not be read (a fact the plan needs is unavailable); one line."""


def _facts(config: Config, url: str, thresholds: dict[str, dict[str, Any]]) -> dict[str, Any]:
    collector = PostgresCollector(url, config.section("postgres"), config.secrets)
    collector.thresholds = thresholds  # the checks it judges: their indexes come with their definitions
    collector.open()
    try:
        facts = {name: collector.fact(name) for name in FACTS}
    finally:
        collector.close()
    missing = [f"{name}: {value.reason}" for name, value in facts.items() if isinstance(value, Unavailable)]
    if missing:
        raise PlanError("; ".join(missing))
    return facts


def _candidates(checks: dict[str, Check], thresholds: dict[str, dict[str, Any]], facts: dict[str, Any],
                out: DropPlan) -> list[DropItem]:
    items: dict[str, DropItem] = {}
    for cid, source in SOURCES.items():
        outcome = judge(checks[cid], facts, thresholds[cid], [])
        if outcome.status.value == "error":  # a check that failed offers nothing: said, not hidden
            out.notes.append(f"{cid} could not judge ({outcome.summary}): none of its indexes is offered")
        for finding in outcome.findings:
            if finding.object not in items:  # an index both unused and duplicate: once, first reason
                schema, name = _split(facts, finding.object)
                items[finding.object] = DropItem(schema, name, "", source, finding.message)
    found = list(items.values()) + _unused_fk_covers(facts, items, thresholds["db.unused_indexes"]["min_size_bytes"])
    too_young = [item for item in found if item.source == "unused"]
    minimum = thresholds["db.unused_indexes"]["drop_min_stats_days"]
    age = out.stats_age_days
    if too_young and (age is None or age < minimum):
        shown = "of unknown age" if age is None else f"{age_text(age)} old"
        out.notes.append(f"{len(too_young)} unused index(es) not offered: the statistics are {shown}, under "
                         f"drop_min_stats_days ({minimum:g}); an index unused for that short a time may serve a "
                         f"weekly or monthly job")
        for item in too_young:
            item.keep = f"statistics too young ({shown}, under drop_min_stats_days {minimum:g})"
    return found


def age_text(days: float) -> str:
    """"3.5 days", or under a day "5.2 hours" (a fresh server's statistics are minutes old)."""
    return f"{days:.1f} days" if days >= 1 else f"{days * 24:.1f} hours"


def _unused_fk_covers(facts: dict[str, Any], taken: dict[str, DropItem], min_size: int) -> list[DropItem]:
    """Unscanned indexes db.unused_indexes leaves out because they serve a foreign key: kept,
    with the reason, when no other index serves it; offered when another does."""
    out = []
    for index in facts["postgres.indexes"]:
        name = qualified(index["schema"], index["name"])
        if name in taken or index["scans"] or not index["is_valid"] or index["is_unique"] or index.get("is_partition") \
                or index["backs_constraint"] or index["size_bytes"] < min_size:
            continue
        fks = [fk for fk in facts["postgres.foreign_keys"] if (fk["schema"], fk["table"]) == (index["schema"], index["table"])
               and covers_columns(index, set(fk["attnums"]), set(fk.get("columns") or []))]
        if fks:
            why = f"{name} was never scanned, and another index serves the foreign key {fks[0]['name']} too"
            out.append(DropItem(index["schema"], index["name"], index["table"], "unused", why))
    return out


def _split(facts: dict[str, Any], object_name: str) -> tuple[str, str]:
    for index in facts["postgres.indexes"]:
        if qualified(index["schema"], index["name"]) == object_name:
            return index["schema"], index["name"]
    schema, _, name = object_name.partition(".")
    return schema, name


def _safeguard(items: list[DropItem], facts: dict[str, Any], query, allow_locking: bool, out: DropPlan) -> None:
    """Sort the candidates into drops and kept, each checked against the catalog as it is now."""
    dropping: set[tuple[str, str]] = set()
    for item in items:
        rows = query(INDEX, (item.schema, item.name))
        if not rows:
            item.keep = item.keep or "no longer exists"
            out.kept.append(item)
            continue
        found = rows[0]
        item.table, item.size_bytes = found["table"], found["size_bytes"] or 0
        item.restore, item.partitioned = restore_statement(found), found["kind"] == "I"
        item.keep = item.keep or why_keep(found, query, allow_locking) or _last_fk_cover(item, facts, dropping)
        if item.keep:
            out.kept.append(item)
        else:
            dropping.add((item.schema, item.name))
            out.drops.append(item)


def why_keep(found: dict[str, Any], query, allow_locking: bool) -> str:
    if found["constraints"]:
        return f"backs the constraint {found['constraints']}"
    if found["replica_identity"]:
        return "it is the table's replica identity (REPLICA IDENTITY USING INDEX): logical replication needs it"
    if found["is_partition"] and found["parent"]:
        return f"a partition's index attached to {found['parent']}: it goes only with its parent"
    if not found["valid"]:
        live = builders(query, {"oid": found["oid"], "table_oid": found["table_oid"]})
        if live:
            return f"INVALID, but {live}"
        if found["is_unique"] and found["ready"]:
            return "an INVALID unique index still checks new rows for duplicates: rebuild it rather than drop it"
    if found["kind"] == "I" and not allow_locking:
        return ("an index of a partitioned table: PostgreSQL cannot drop it CONCURRENTLY; a plain DROP INDEX locks "
                "the table and its partitions (ACCESS EXCLUSIVE) while it runs: pass --allow-locking-drop")
    return ""


def _last_fk_cover(item: DropItem, facts: dict[str, Any], dropping: set[tuple[str, str]]) -> str:
    """"" unless dropping this index (after this plan's earlier drops) leaves a foreign key
    without any index serving it."""
    indexes = [ix for ix in facts["postgres.indexes"] if (ix["schema"], ix["table"]) == (item.schema, item.table)]
    this = next((ix for ix in indexes if ix["name"] == item.name), None)
    if this is None:
        return ""
    rest = [ix for ix in indexes if ix["name"] != item.name and (ix["schema"], ix["name"]) not in dropping]
    for fk in facts["postgres.foreign_keys"]:
        if (fk["schema"], fk["table"]) != (item.schema, item.table):
            continue
        cols, names = set(fk["attnums"]), set(fk.get("columns") or [])
        if covers_columns(this, cols, names) and not any(covers_columns(ix, cols, names) for ix in rest):
            return f"the only index serving the foreign key {fk['name']} ({', '.join(fk['columns'] or [])})"
    return ""
