"""`perfcheck apply-indexes`: build the advisor's indexes on a live database without
blocking its writes (GitLab's and strong_migrations' practice, Dexter's lock).

    from perfcheck.advisor import advise
    from perfcheck.apply.build import apply
    result = apply(advise(url), url)          # builds them; result.outcomes has each index

- A direct session in autocommit (CREATE INDEX CONCURRENTLY can't run in a transaction),
  `application_name = 'perfcheck apply-indexes'`, no statement timeout (a build takes
  what it takes), a `lock_timeout` on every lock wait.
- `pg_try_advisory_lock`, so that two deploys never build at once: the second waits a
  bounded time, then builds only what is still missing, or gives up with a clear message.
- One index at a time. Right before each: does it exist already (valid: nothing to do;
  INVALID: dropped concurrently and built again only when it is provably perfcheck's own
  leftover, see "whose index is it?" below, else reported and left alone)? Does a session
  hold a lock that conflicts with the build, or an old snapshot it would wait on? Then it
  waits and retries with back-off, and in the end skips the index naming the blocking pid
  (and how long it has sat idle in transaction), rather than queueing behind it.
- `CREATE INDEX CONCURRENTLY IF NOT EXISTS`; a failure leaves an INVALID index, which is
  dropped concurrently at once (or, if that can't be done, repaired by the next run).
  `indisvalid` is checked after each build, then the table is ANALYZEd.
- A partitioned table gets its index ON ONLY the parent, then one built concurrently on
  each partition and attached; partitions partitioned in turn are refused.
- Progress comes from pg_stat_progress_create_index, read by a second session.
- Ctrl-C, and SIGTERM (raised as `Terminated`, a KeyboardInterrupt, by apply_command),
  cancel the running build (psycopg cancels it in the server), drop its INVALID leftover,
  release the lock, and the result says what was built and what was not.
- Afterwards the statements each index was for are planned again and their cost before
  → after reported.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import psycopg

from perfcheck import config
from perfcheck.advisor.analyse import SQL_PACKAGE
from perfcheck.advisor.candidates import Candidate, served_by_existing
from perfcheck.advisor.catalog import Catalog
from perfcheck.advisor.catalog import _key as existing_key
from perfcheck.advisor.ddl import create_statement, partition_index_name
from perfcheck.advisor.model import Advice, Recommendation
from perfcheck.advisor.predicates import parse_key
from perfcheck.advisor.whatif import PlanError, WhatIf
from perfcheck.advisor.workload import Statement, classify
from perfcheck.apply.lock import CONFLICTING, DirectSession, Events, LockOptions, Terminated, take_lock
from perfcheck.errors import TargetError
from perfcheck.pg.names import qualified, tagged
from perfcheck.pg.session import Session, connect, one_line

@dataclass
class ApplyOptions(LockOptions):
    allow_unverified: bool = False  # build heuristic (not HypoPG-verified) recommendations


@dataclass
class StatementCost:
    queryid: int | None
    query: str
    cost_before: float
    cost_after: float | None  # None: could not be planned again


@dataclass
class IndexOutcome:
    rec: Recommendation
    status: str = "not started"  # built | repaired | exists | skipped | held | failed | interrupted | not started
    message: str = ""
    seconds: float = 0.0
    size_bytes: int | None = None  # the real size, once built
    statements: list[StatementCost] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in ("built", "repaired", "exists")

    @property
    def cost_before(self) -> float:
        return sum(s.cost_before for s in self.statements)

    @property
    def cost_after(self) -> float | None:
        if not self.statements or any(s.cost_after is None for s in self.statements):
            return None
        return sum(s.cost_after for s in self.statements)


@dataclass
class ApplyResult:
    outcomes: list[IndexOutcome]
    interrupted: bool = False
    terminated: bool = False  # the interruption was SIGTERM, not Ctrl-C
    lock_holder: int | None = None  # another apply-indexes held the lock past the wait
    problem: str = ""  # why nothing was tried, one line

    @property
    def failed(self) -> list[IndexOutcome]:
        return [o for o in self.outcomes if not o.ok and o.status != "held"]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.interrupted and not self.problem


class ApplyError(Exception):
    """Nothing can be applied (unverified advice, bad --only…); one line for the user."""


_RETRY = ("retry", "")  # Builder._attempt: a lock timeout, try again after a pause


def select(advice: Advice, only: list[str] | None = None) -> tuple[list[Recommendation], list[str]]:
    """The recommendations for the tables in `only` (all when empty), and the names in
    `only` that matched none. A name is `table` or `schema.table`; quoted parts keep their case."""
    if not only:
        return list(advice.recommendations), []
    wanted = [parse_name(name) for name in only]
    chosen, unmatched = [], []
    for spec, (schema, table) in zip(only, wanted):
        hits = [r for r in advice.recommendations if matches(r.table, table) and (schema is None or matches(r.schema, schema))]
        if not hits:
            unmatched.append(spec)
        chosen += [r for r in hits if r not in chosen]
    return [r for r in advice.recommendations if r in chosen], unmatched


def parse_name(text: str) -> tuple[tuple[str, bool] | None, tuple[str, bool]]:
    parts, current, quoted, in_quotes, i = [], "", False, False, 0
    while i < len(text):
        ch = text[i]
        if ch == '"':
            if in_quotes and text[i + 1:i + 2] == '"':
                current += '"'
                i += 1
            else:
                in_quotes, quoted = not in_quotes, True
        elif ch == "." and not in_quotes:
            parts.append((current, quoted))
            current, quoted = "", False
        else:
            current += ch
        i += 1
    parts.append((current, quoted))
    if len(parts) > 2 or not all(p for p, _ in parts):
        raise ApplyError(f"--only {text!r}: expected TABLE or SCHEMA.TABLE")
    return (parts[0] if len(parts) == 2 else None), parts[-1]


def matches(actual: str, spec: tuple[str, bool]) -> bool:
    name, quoted = spec
    return actual == name if quoted else actual in (name, name.lower())


# --- whose index is it? ----------------------------------------------------------------
#
# An index under the name perfcheck wants may be perfcheck's own leftover (a build killed
# mid-way: the session terminated, the machine rebooted) or somebody else's: a migration
# building a UNIQUE index under that name right now, or a failed build of theirs that a
# person means to look at. Dropping the second kind destroys work perfcheck does not own.
#
# A CREATE INDEX CONCURRENTLY is one statement: there is no moment at which perfcheck could
# label the index before the build can fail, so a killed build leaves an INVALID index
# with no mark on it. Ownership is therefore proven, at the moment of the repair, by:
#   1. no live backend building it: no row in pg_stat_progress_create_index for the index
#      (or for its table with the index not known yet, or hidden from this role), and no
#      session holding a lock on it stronger than a reader's (a REINDEX, a DROP);
#   2. exactly the definition perfcheck would build: same table, access method and keys
#      in the same order and direction; not UNIQUE, not partial, no INCLUDE, no storage
#      options, default operator classes and collations;
#   3. no comment other than perfcheck's own mark for that definition (a completed build,
#      and the ON ONLY parent of a partitioned table, get `COMMENT ON INDEX` with
#      perfcheck's name and a hash of the definition).
# Dropping and rebuilding an INVALID index that nobody is building and whose definition
# is the one perfcheck would build loses nothing, whoever typed it first: the rebuild is
# the same index. Anything else is reported with the statements a person could run, and
# never dropped.
MARK = "perfcheck apply-indexes"

_FOUND = (
    "SELECT c.oid::bigint AS oid, c.relkind::text AS kind, i.indisvalid AS valid, i.indisunique AS is_unique, "
    "t.oid::bigint AS table_oid, t.relname AS table, tn.nspname AS table_schema, am.amname AS method, "
    "i.indpred IS NOT NULL AS partial, i.indnatts <> i.indnkeyatts AS has_include, "
    "c.reloptions IS NOT NULL AS has_options, "
    "EXISTS (SELECT FROM unnest(i.indclass::oid[]) AS k(opc) JOIN pg_opclass o ON o.oid = k.opc "
    "WHERE NOT o.opcdefault) AS custom_opclass, "
    "pg_get_indexdef(c.oid) AS definition, "
    "ARRAY(SELECT pg_get_indexdef(c.oid, k, true) FROM generate_series(1, i.indnkeyatts) AS k ORDER BY k) AS keys, "
    "ARRAY(SELECT (i.indoption::int2[])[k - 1]::int FROM generate_series(1, i.indnkeyatts) AS k ORDER BY k) AS options, "
    "ARRAY(SELECT pg_get_indexdef(c.oid, k, true) FROM generate_series(i.indnkeyatts + 1, i.indnatts) AS k ORDER BY k) "
    "AS include, pg_get_expr(i.indpred, i.indrelid, true) AS predicate, "
    "obj_description(c.oid, 'pg_class') AS comment "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "LEFT JOIN pg_index i ON i.indexrelid = c.oid LEFT JOIN pg_class t ON t.oid = i.indrelid "
    "LEFT JOIN pg_namespace tn ON tn.oid = t.relnamespace LEFT JOIN pg_am am ON am.oid = c.relam "
    "WHERE n.nspname = %s AND c.relname = %s")

# Who is building (or reindexing, or dropping) this index right now. A progress row whose
# relid is hidden (another role without pg_read_all_stats) might be it: counted.
_BUILDERS = (
    "SELECT p.pid, 'progress' AS source, p.command AS what, p.phase, a.application_name "
    "FROM pg_stat_progress_create_index p LEFT JOIN pg_stat_activity a ON a.pid = p.pid "
    "WHERE p.pid <> pg_backend_pid() AND p.datid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND (p.index_relid = %(oid)s::oid OR p.relid IS NULL OR (p.relid = %(table)s::oid AND p.index_relid = 0)) "
    "UNION ALL "
    "SELECT l.pid, 'lock', l.mode, NULL, a.application_name FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.relation = %(oid)s::oid AND l.granted AND l.pid <> pg_backend_pid() AND l.mode = ANY(%(modes)s) "
    "AND l.pid NOT IN (SELECT pid FROM pg_stat_progress_create_index)")

Query = Callable[[str, Any], list[dict[str, Any]]]


@dataclass(frozen=True)
class Shape:
    """What one index is, apart from its name and table: keys, access method, INCLUDE
    columns and a partial index's predicate (the same on a partitioned table's parent and
    on each partition's index)."""
    keys: tuple[str, ...]
    method: str = "btree"
    include: tuple[str, ...] = ()
    where: str | None = None

    @classmethod
    def of(cls, rec: Recommendation) -> Shape:
        return cls(tuple(rec.keys), rec.method, tuple(rec.include or ()), rec.where or None)

    def create(self, schema: str, table: str, name: str, **how: Any) -> str:
        return create_statement(schema, table, name, list(self.keys), method=self.method, include=list(self.include),
                                where=self.where, **how)


def same_predicate(a: str | None, b: str | None) -> bool:
    """Whether two partial-index predicates read the same once the server's rendering
    (pg_get_expr adds casts of constants and parentheses) is set aside."""
    def bare(text: str | None) -> str:
        text = re.sub(r"::\s*\"?(character varying|double precision|time(stamp)? with(out)? time zone|[a-z_][a-z0-9_]*)"
                      r"\"?(\[\])?", "", (text or "").lower())
        return re.sub(r"[()\s]", "", text)
    return bare(a) == bare(b)


def _include_differs(found: dict[str, Any], shape: Shape) -> bool:
    return [c.strip('"') for c in found["include"] or []] != [c.strip('"') for c in shape.include]


def fingerprint(schema: str, table: str, shape: Shape) -> str:
    """The mark perfcheck leaves on an index it built: its name and a hash of the definition."""
    text = f"{qualified(schema, table)} USING {shape.method} ({', '.join(shape.keys)})"
    # INCLUDE and WHERE only when present, so that the marks of plain indexes stay as they were.
    text += f" INCLUDE ({', '.join(shape.include)})" if shape.include else ""
    text += f" WHERE {shape.where}" if shape.where else ""
    return f"{MARK} {hashlib.sha256(text.encode()).hexdigest()[:16]}"


def find(query: Query, schema: str, name: str) -> dict[str, Any] | None:
    rows = query(_FOUND, (schema, name))
    return rows[0] if rows else None


def _keys(found: dict[str, Any], keys: tuple[str, ...]) -> tuple[list, list]:
    """The recommended keys and the found index's, both as the advisor compares keys."""
    return ([parse_key(key) for key in keys],
            [existing_key(text, option) for text, option in zip(found["keys"] or [], found["options"] or [])])


def differences(found: dict[str, Any], schema: str, table: str, shape: Shape) -> str:
    """"" when `found` is the index perfcheck would build, else how it differs."""
    wanted, actual = _keys(found, shape.keys)
    collations = found["definition"].count(" COLLATE ") != " ".join(shape.keys).count(" COLLATE ")
    if (found["table_schema"], found["table"]) != (schema, table) or found["is_unique"] \
            or found["partial"] != bool(shape.where) or not same_predicate(found["predicate"], shape.where) \
            or _include_differs(found, shape) or found["has_options"] or found["custom_opclass"] or collations \
            or found["method"] != shape.method or None in wanted or actual != wanted:
        return f"its definition is not the one perfcheck would build ({found['definition']})"
    return ""


def serves(found: dict[str, Any], schema: str, table: str, shape: Shape) -> bool:
    """A valid index under the name that does the recommended index's job (its keys lead
    with the same ones; UNIQUE or wider is fine): nothing to build."""
    wanted, actual = _keys(found, shape.keys)
    # A partial index serves only its own predicate; a full one serves a partial's job too.
    predicate_ok = not found["partial"] or (bool(shape.where) and same_predicate(found["predicate"], shape.where))
    covered = {c.strip('"') for c in [*(found["keys"] or []), *(found["include"] or [])]}
    return ((found["table_schema"], found["table"]) == (schema, table) and predicate_ok
            and {c.strip('"') for c in shape.include} <= covered
            and found["method"] == shape.method and None not in wanted and actual[:len(wanted)] == wanted)


def builders(query: Query, found: dict[str, Any]) -> str:
    """"" when no other session builds, reindexes or drops this index, else who does."""
    rows = query(_BUILDERS, {"oid": found["oid"], "table": found["table_oid"], "modes": CONFLICTING})
    who = []
    for row in rows:
        details = [f"application {row['application_name']!r}"] if row["application_name"] else []
        if row["source"] == "lock":
            details.append(f"holding a {row['what']} on it")
        elif row["what"]:
            details.append(f"{row['what']}, {row['phase']}")
        else:  # another role's build, details hidden without pg_read_all_stats: it might be this one
            details.append("an index build whose details this role cannot see")
        who.append(f"pid {row['pid']} ({'; '.join(details)})")
    return f"a live session is building it: {', '.join(who)}" if who else ""


def not_ours(query: Query, found: dict[str, Any], schema: str, table: str, shape: Shape) -> str:
    """"" when this INVALID index is provably perfcheck's leftover (see above), else why not."""
    live = builders(query, found)
    if live:
        return live
    differs = differences(found, schema, table, shape)
    if differs:
        return differs
    comment = found["comment"]
    if comment and comment != fingerprint(schema, table, shape):
        return "it carries a comment perfcheck did not write"
    return ""


def repair_statements(schema: str, table: str, name: str, shape: Shape) -> str:
    return (f"DROP INDEX CONCURRENTLY {qualified(schema, name)}; "
            f"{shape.create(schema, table, name)};")


def left_alone(schema: str, table: str, name: str, shape: Shape, why: str) -> str:
    return (f"{qualified(schema, name)} is INVALID and not perfcheck's to repair: {why}; left untouched. "
            f"Once nothing builds it, a person can repair it: {repair_statements(schema, table, name, shape)}")


@dataclass
class Leftover:
    """An INVALID index under a name perfcheck wants, as the dry run reports it."""
    schema: str
    name: str
    repairable: bool
    message: str


def leftovers(url: str, recs: list[Recommendation], postgres_options: dict[str, Any]) -> list[Leftover]:
    """The INVALID indexes under the names these recommendations would build: those --yes
    would drop and build again, and those it will leave alone (with why). Read-only."""
    conn = connect(url, {**config.DEFAULTS["postgres"], **(postgres_options or {})})
    query: Query = lambda text, params: conn.execute(tagged(text), params, prepare=False).fetchall()  # noqa: E731
    out = []
    try:
        for rec in recs:
            names = [(rec.schema, rec.table, rec.name)]
            if rec.table_kind == "p":
                names += [(s, p, partition_index_name(rec, p)) for s, p in rec.partitions]
            for schema, table, name in names:
                found = find(query, schema, name)
                if found is None or found["valid"] or found["kind"] not in ("i", "I"):
                    continue
                why = not_ours(query, found, schema, table, Shape.of(rec))
                if why:
                    out.append(Leftover(schema, name, False, left_alone(schema, table, name, Shape.of(rec), why)))
                else:
                    out.append(Leftover(schema, name, True, f"{qualified(schema, name)}: an INVALID leftover of an "
                                        f"earlier perfcheck build; --yes drops it concurrently and builds it again"))
    finally:
        conn.close()
    return out


class Builder(DirectSession):
    """The build's session (see lock.DirectSession) and what it does to one index."""

    # --- one index ---------------------------------------------------------------------
    def existing(self, schema: str, name: str) -> dict[str, Any] | None:
        return find(self.run, schema, name)

    def equivalent(self, rec: Recommendation) -> str | None:
        """Another valid index that already does what this one would (same leading keys in
        the same order, or a hash index for its one key): built since the advice was made."""
        keys = tuple(parse_key(key) for key in rec.keys)
        if None in keys or rec.include or rec.where:
            # The catalog knows neither INCLUDE columns nor how a predicate implies another:
            # only the index under the recommended name is compared (see serves()).
            return None
        advisor_sql = Session(self.conn, SQL_PACKAGE)
        catalog = Catalog(lambda name, params: advisor_sql.rows(name, params, prepare=False))
        catalog.load({(rec.schema, rec.table)})
        table = catalog.table_for((rec.schema, rec.table))
        index = served_by_existing(table, Candidate(table.relation, keys, 0), set()) if table else None
        return None if index is None or index.name == rec.name else qualified(rec.schema, index.name)

    def build(self, schema: str, table: str, name: str, shape: Shape) -> tuple[str, str]:
        """Build one index concurrently: (status, message). Raises KeyboardInterrupt and a
        broken connection's error to the caller."""
        early, repaired = self._before_build(schema, table, name, shape)
        if early is not None:
            return early
        statement = shape.create(schema, table, name)
        waits: list[str] = []
        started = time.monotonic()
        for attempt in range(self.options.retries + 1):
            if attempt:
                self.pause(attempt)
            in_the_way = self.blockers(schema, table)
            if in_the_way:
                waits.append(", ".join(map(str, in_the_way)))
                self.events(f"  {qualified(schema, table)} is in use by {waits[-1]}")
                continue
            failed = self._attempt(statement, schema, table, name, shape, waits)
            if failed == _RETRY:
                continue
            if failed is not None:
                return failed
            found = self.existing(schema, name)
            if not found or not found["valid"]:
                leftover = self.drop_invalid(schema, name, table, shape)
                return "failed", "the build finished but the index is not valid" + (f"; {leftover}" if leftover else "")
            took = time.monotonic() - started
            self.mark(schema, table, name, shape)
            return ("repaired" if repaired else "built"), f"in {took:.2f} s"
        tries = self.options.retries + 1
        return "skipped", (f"could not build without waiting on other sessions ({tries} tries over "
                           f"{time.monotonic() - started:.0f} s; blocked by {waits[-1]}); nothing was left behind")

    def _before_build(self, schema: str, table: str, name: str,
                      shape: Shape) -> tuple[tuple[str, str] | None, bool]:
        """What is under the name already: (an outcome that ends here, or None to build; whether
        an INVALID leftover of ours was dropped first, so that the build repairs it)."""
        found = self.existing(schema, name)
        if found is None:
            return None, False
        if found["kind"] not in ("i", "I") or found["table"] != table or found["table_schema"] != schema:
            return ("failed", f"the name {qualified(schema, name)} is taken by another relation"), False
        if found["valid"]:
            if not serves(found, schema, table, shape):
                return ("skipped", (f"{qualified(schema, name)} exists already but is another index "
                                    f"({found['definition']}); left untouched, the recommended index was not built")), False
            return ("exists", f"{qualified(schema, name)} exists already"), False
        why = not_ours(self.run, found, schema, table, shape)
        if why:
            return ("skipped", left_alone(schema, table, name, shape, why)), False
        self.events(f"  {qualified(schema, name)} is INVALID, left by an earlier perfcheck build "
                    f"(nobody is building it): dropping it concurrently")
        problem = self.drop_invalid(schema, name, table, shape)
        if problem:
            return ("failed", problem), False
        return None, True

    def _attempt(self, statement: str, schema: str, table: str, name: str, shape: Shape,
                 waits: list[str]) -> tuple[str, str] | None:
        """One CREATE INDEX CONCURRENTLY: None when it ran, _RETRY after a lock timeout (its
        INVALID leftover dropped), else the failure."""
        self.monitor.watch(qualified(schema, name))
        try:
            self.run(statement)
        except psycopg.errors.LockNotAvailable:
            blockers = list(self.monitor.blockers.values())
            waits.append(", ".join(map(str, blockers)) if blockers else "another session")
            self.events(f"  lock timeout ({self.options.lock_timeout_s:g} s) waiting for {waits[-1]}")
            leftover = self.drop_invalid(schema, name, table, shape)
            return ("failed", leftover) if leftover else _RETRY
        except psycopg.Error as exc:
            if self.conn.broken:
                raise
            leftover = self.drop_invalid(schema, name, table, shape)
            return "failed", f"the build failed: {one_line(exc)}" + (f"; {leftover}" if leftover else "")
        finally:
            self.monitor.watch("")
        return None

    def drop_invalid(self, schema: str, name: str, table: str, shape: Shape) -> str:
        """Drop the INVALID index under this name concurrently, if it is provably perfcheck's
        (our own build, cancelled or failed, is); "" when done or nothing to do, else why not."""
        found = self.existing(schema, name)
        if found is None or found["valid"] or found["kind"] not in ("i", "I"):
            return ""
        why = not_ours(self.run, found, schema, table, shape)
        if why:
            return left_alone(schema, table, name, shape, why)
        try:
            self.run(f"DROP INDEX CONCURRENTLY IF EXISTS {qualified(schema, name)}")
            return ""
        except psycopg.Error as exc:
            if self.conn.broken:
                raise
            return (f"the INVALID index {qualified(schema, name)} could not be dropped yet ({one_line(exc)}); "
                    f"the next run drops and rebuilds it")

    def mark(self, schema: str, table: str, name: str, shape: Shape) -> None:
        """Sign what perfcheck built (see "whose index is it?"); a nicety, never a failure."""
        try:  # COMMENT takes no bind parameters; the mark is hex and ASCII words
            self.run(f"COMMENT ON INDEX {qualified(schema, name)} IS '{fingerprint(schema, table, shape)}'")
        except psycopg.Error:
            if self.conn.broken:
                raise

    def analyze(self, schema: str, table: str) -> str:
        try:
            self.run(f"ANALYZE {qualified(schema, table)}")
            return ""
        except psycopg.Error as exc:
            if self.conn.broken:
                raise
            return f"; ANALYZE skipped ({one_line(exc)}), autovacuum will do it"

    def size(self, schema: str, name: str) -> int | None:
        # A partitioned index has no storage of its own: its size is its partitions'.
        rows = self.run("SELECT CASE WHEN c.relkind = 'I' THEN (SELECT sum(pg_relation_size(relid)) FROM "
                        "pg_partition_tree(c.oid)) ELSE pg_relation_size(c.oid) END::bigint AS size "
                        "FROM pg_class c WHERE c.oid = to_regclass(%s)", (qualified(schema, name),))
        return rows[0]["size"] if rows else None

def _apply_one(builder: Builder, rec: Recommendation) -> tuple[str, str]:
    other = builder.equivalent(rec)
    if other:
        return "exists", f"already served by {other}, built since the advice was made"
    if rec.table_kind != "p":
        status, message = builder.build(rec.schema, rec.table, rec.name, Shape.of(rec))
    else:
        status, message = _apply_partitioned(builder, rec)
    if status in ("built", "repaired"):
        message += builder.analyze(rec.schema, rec.table)
    return status, message


def _apply_partitioned(builder: Builder, rec: Recommendation) -> tuple[str, str]:
    """ON ONLY the parent (a catalog entry, invalid until complete), then each partition
    concurrently, attached one by one: the parent index turns valid with the last one."""
    if rec.nested_partitions:
        return "skipped", (f"refused: {rec.qualified_table} has partitions that are partitioned in turn; build "
                           f"the index on each leaf concurrently, then ON ONLY and ATTACH level by level")
    parent = builder.existing(rec.schema, rec.name)
    if parent is not None and (parent["kind"] not in ("i", "I") or parent["table"] != rec.table
                               or parent["table_schema"] != rec.schema):
        return "failed", f"the name {qualified(rec.schema, rec.name)} is taken by another relation"
    if parent is not None and parent["valid"]:
        if not serves(parent, rec.schema, rec.table, Shape.of(rec)):
            return "skipped", (f"{qualified(rec.schema, rec.name)} exists already but is another index "
                               f"({parent['definition']}); left untouched, the recommended index was not built")
        return "exists", f"{qualified(rec.schema, rec.name)} exists already"
    if parent is not None:  # an INVALID parent: completed only if it is perfcheck's
        why = not_ours(builder.run, parent, rec.schema, rec.table, Shape.of(rec))
        if why:
            return "skipped", (f"{qualified(rec.schema, rec.name)} is INVALID and not perfcheck's to complete: {why}; "
                               f"left untouched")
    started = time.monotonic()
    if parent is None:
        builder.run(Shape.of(rec).create(rec.schema, rec.table, rec.name, concurrently=False, only=True))
        # Marked at once: this INVALID parent is perfcheck's until the last partition attaches.
        builder.mark(rec.schema, rec.table, rec.name, Shape.of(rec))
    built = 0
    for part_schema, part in rec.partitions:
        part_name = partition_index_name(rec, part)
        status, message = builder.build(part_schema, part, part_name, Shape.of(rec))
        if status not in ("built", "repaired", "exists"):
            return status, f"partition {qualified(part_schema, part)}: {message}; the parent index stays INVALID " \
                           f"until the next run completes it"
        built += status != "exists"
        builder.run(f"ALTER INDEX {qualified(rec.schema, rec.name)} ATTACH PARTITION {qualified(part_schema, part_name)}")
    found = builder.existing(rec.schema, rec.name)
    if not found or not found["valid"]:
        return "failed", "every partition has its index but the parent index is still not valid"
    status = "repaired" if parent is not None else "built"
    return status, f"on {len(rec.partitions)} partitions ({built} built) in {time.monotonic() - started:.2f} s"


def replan(url: str, postgres_options: dict[str, Any], outcome: IndexOutcome) -> None:
    """Plan the statements the index was for again, now that it exists."""
    try:
        conn = connect(url, postgres_options)
    except TargetError:
        return
    try:
        with WhatIf(conn) as whatif:
            for use in outcome.rec.statements:
                after = None
                reason, params = classify(use.query)
                if reason is None:
                    try:
                        after = float(whatif.plan(Statement(use.queryid, use.query, use.calls, 0, use.total_ms, params))["Total Cost"])
                    except PlanError:
                        pass
                outcome.statements.append(StatementCost(use.queryid, use.query, use.cost_before, after))
    finally:
        conn.close()


def apply(advice: Advice, url: str, *, only: list[str] | None = None, options: ApplyOptions | None = None,
          postgres_options: dict[str, Any] | None = None, events: Events = lambda line: None) -> ApplyResult:
    """Build the recommended indexes (those for `only` tables). Raises ApplyError when
    nothing may be applied, TargetError when the database can't be reached."""
    options = options or ApplyOptions()
    pg_options = {**config.DEFAULTS["postgres"], **(postgres_options or {})}
    recs, _ = select(advice, only)
    if not advice.verified and not options.allow_unverified:
        raise ApplyError("these recommendations are UNVERIFIED (HypoPG is not installed in this database): "
                         "CREATE EXTENSION hypopg to verify them, or review them with --write-migration FILE")
    outcomes = [IndexOutcome(rec) for rec in recs]
    result = ApplyResult(outcomes)
    if advice.verified and not options.allow_unverified:  # one of a kind HypoPG cannot simulate (GIN)
        for outcome in outcomes:
            if not outcome.rec.verified:
                outcome.status = "held"
                outcome.message = f"UNVERIFIED ({outcome.rec.unverified_reason}): not built without --allow-unverified"
    outcomes = [o for o in outcomes if o.status != "held"]
    if not outcomes:
        return result
    builder = Builder(url, options, pg_options, events)
    try:
        if not _take_lock(builder, options, result):
            return result
        builder.monitor.start()
        _build_all(builder, outcomes, result, events)
    finally:
        if not builder.conn.broken:
            builder.unlock()
        builder.close()
    try:
        for outcome in outcomes:
            if outcome.ok:
                replan(url, pg_options, outcome)
    except KeyboardInterrupt as exc:  # the indexes are built; only the before → after costs are cut short
        result.interrupted, result.terminated = True, isinstance(exc, Terminated)
    return result


def _take_lock(builder: Builder, options: ApplyOptions, result: ApplyResult) -> bool:
    """The advisory lock that keeps two builds apart; False (with the reason in `result`) without it."""
    refused = take_lock(builder, "build")
    if refused is None:
        return True
    result.problem, result.lock_holder = refused.problem, refused.holder
    result.interrupted, result.terminated = refused.interrupted, refused.terminated
    return False


def _build_all(builder: Builder, outcomes: list[IndexOutcome], result: ApplyResult, events: Events) -> None:
    """One index at a time; Ctrl-C, SIGTERM or a lost session stop the rest."""
    for outcome in outcomes:
        rec = outcome.rec
        events(f"building {qualified(rec.schema, rec.name)} on {rec.label}…")
        started = time.monotonic()
        try:
            outcome.status, outcome.message = _apply_one(builder, rec)
        except KeyboardInterrupt as exc:
            result.interrupted, result.terminated = True, isinstance(exc, Terminated)
            outcome.status = "interrupted"
            outcome.message = f"{'SIGTERM' if result.terminated else 'Ctrl-C'}: the build was cancelled"
            try:
                leftover = _cleanup_after_interrupt(builder, rec)
            except (KeyboardInterrupt, psycopg.Error):
                leftover = "the cleanup was interrupted too; the next run repairs the INVALID index"
            outcome.message += f"; {leftover}" if leftover else "; its INVALID leftover was dropped"
            return
        except psycopg.Error as exc:
            if not builder.conn.broken:  # e.g. a lock timeout on ATTACH or ON ONLY: this index only
                outcome.status, outcome.message = "failed", one_line(exc)
                continue
            outcome.status = "failed"
            outcome.message = (f"the build's session was terminated ({one_line(exc)}); its INVALID index is left "
                               f"and the next run drops and rebuilds it; stopped here")
            return
        outcome.seconds = time.monotonic() - started
        if outcome.status in ("built", "repaired"):
            outcome.size_bytes = builder.size(rec.schema, rec.name)


def _cleanup_after_interrupt(builder: Builder, rec: Recommendation) -> str:
    """After Ctrl-C: drop what the cancelled build left INVALID (a second Ctrl-C stops this)."""
    if builder.conn.broken:
        return "the session was lost; the next run repairs the INVALID index"
    names = [(rec.schema, rec.table, rec.name)] if rec.table_kind != "p" else \
        [(s, p, partition_index_name(rec, p)) for s, p in rec.partitions]
    problems = [builder.drop_invalid(schema, name, table, Shape.of(rec)) for schema, table, name in names]
    return "; ".join(p for p in problems if p)


__all__ = ["ApplyError", "ApplyOptions", "ApplyResult", "IndexOutcome", "Leftover", "Terminated", "apply", "leftovers",
           "select"]
