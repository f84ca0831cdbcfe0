"""The PostgreSQL workload checks, read from pg_stat_statements: slow statements,
`SELECT *` on wide tables, N+1 lookups, OFFSET pagination, plans not reused.

Statements are parsed with pglast (`statement_shape`), once per distinct text however
many checks look at them; every pass is linear in the number of statements, plus a sort.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from perfcheck.model import Finding, Fix
from perfcheck.registry import Outcome, check
from perfcheck.scoring import lognormal
from perfcheck.pg.names import qualified, quote_ident
from perfcheck.checks.pg import Catalog, hidden_statement, penalty, short_sql, statement_object, unless_hidden
from perfcheck.checks.statement_shape import Shape, batched, shape

Row = dict[str, Any]
_WIDE_TYPES = ("text", "json", "jsonb", "bytea", "xml", "character varying", "tsvector")
_WORD = re.compile(r"[a-z_][a-z0-9_$]*")  # identifiers in a lower-cased statement


def _rows_per_call(row: Row) -> float:
    return (row.get("rows") or 0) / max(1, row["calls"])


def _workload(statements: list[Row], min_calls: int, needle: str = "") -> list[tuple[Row, Shape]]:
    """Statements called min_calls+ times with their shapes. `needle`, when given, is text
    the statement must contain to matter (`*`, `offset`): a cheap test that spares parsing
    the rest."""
    return [(row, shape(row["query"])) for row in statements
            if row["calls"] >= min_calls and not hidden_statement(row) and (not needle or needle in row["query"].lower())]


def _hidden(statements: list[Row], min_calls: int) -> list[Row]:
    """Other roles' statements called min_calls+ times, whose text this role may not read:
    any of them could be what a check looks for (their counters alone can't tell)."""
    return [row for row in statements if row["calls"] >= min_calls and hidden_statement(row)]


HIDDEN_TEXTS = "statements of other roles (their text)"


def _too_little(statements: list[Row], min_calls: int) -> str:
    """Why a check skips for want of workload; other roles' statements that reach here were
    called often enough but cannot change its verdict (their counters say so)."""
    others = len(_hidden(statements, min_calls))
    if others:
        return (f"no statement whose text this role can read has been called {min_calls}+ times yet; the {others} "
                f"of other roles that have cannot fail this check")
    return f"no statement has been called {min_calls}+ times yet: too little workload to judge"


def _tables_of(columns: list[Row]) -> dict[tuple[str, str], list[Row]]:
    tables: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for column in columns:
        tables[(column["schema"], column["table"])].append(column)
    return tables


# --- db.slow_queries ---------------------------------------------------------------------

@check("db.slow_queries", requires=["postgres.statements", "postgres.server"])
def slow_queries(facts, t):
    statements = facts["postgres.statements"]
    # Another role's statement shows its times but not its text: one over the target may
    # be a slow query or a utility statement, and it cannot be named.
    hidden = [row for row in _hidden(statements, t["min_calls"]) if row["mean_ms"] > t["mean_ms"]]
    outcome = _slow_queries(statements, t)
    return unless_hidden(outcome, len(hidden), f"statements of other roles averaging over {t['mean_ms']} ms "
                                               f"(their text)", facts)


def _slow_queries(statements: list[Row], t) -> Outcome:
    total_ms = sum(row["total_ms"] or 0 for row in statements) or 1.0
    # Slowest first; utility statements (CREATE INDEX, VACUUM…) are not the application's
    # queries. Only the slow ones and the slowest query need parsing to tell.
    called = sorted((row for row in statements if row["calls"] >= t["min_calls"] and not hidden_statement(row)),
                    key=lambda r: -r["mean_ms"])
    slow: list[Row] = []
    worst = None
    for row in called:
        if worst is not None and row["mean_ms"] <= t["mean_ms"]:
            break
        if shape(row["query"]).kind == "utility":
            continue
        worst = worst or row
        if row["mean_ms"] > t["mean_ms"]:
            slow.append(row)
    if worst is None:
        return Outcome.skip(_too_little(statements, t["min_calls"]), metrics={"statements": len(statements), "judged": 0})
    slow.sort(key=lambda r: -r["total_ms"])
    findings = []
    for row in slow[: t["top"]]:
        part = lognormal(row["mean_ms"], t["mean_ms"], 5 * t["mean_ms"])
        share = row["total_ms"] / total_ms
        findings.append(Finding(
            "fail" if part < 0.5 else "warn", statement_object(row),
            f"mean {row['mean_ms']:.1f} ms over {row['calls']:,} calls ({row['total_ms'] / 1000:.1f} s in all, "
            f"{share:.0%} of the database's statement time); the target is {t['mean_ms']} ms: "
            f"index it (see db.missing_indexes), fetch fewer rows, or cache it",
            None, {"queryid": row["queryid"], "calls": row["calls"], "mean_ms": round(row["mean_ms"], 3),
                   "total_ms": round(row["total_ms"], 1), "share": round(share, 4),
                   "rows_per_call": round(_rows_per_call(row), 1)}))
    slow_ms = sum(row["total_ms"] for row in slow)
    metrics = {"statements": len(statements), "judged": len(called), "slow": len(slow),
               "slow_share": round(slow_ms / total_ms, 4), "worst_mean_ms": round(worst["mean_ms"], 3)}
    score = lognormal(worst["mean_ms"], t["mean_ms"], 5 * t["mean_ms"])
    if not slow:
        return Outcome.scored(score, f"all {len(called)} statements called {t['min_calls']}+ times average under "
                                     f"{t['mean_ms']} ms (slowest {worst['mean_ms']:.1f} ms)", metrics=metrics)
    more = f" (top {t['top']} shown)" if len(slow) > t["top"] else ""
    return Outcome.scored(score, f"{len(slow)} statements average over {t['mean_ms']} ms{more}, "
                                 f"{slow_ms / total_ms:.0%} of statement time; slowest {worst['mean_ms']:.1f} ms",
                          metrics=metrics, findings=findings)


# --- db.select_star ------------------------------------------------------------------------

@check("db.select_star", requires=["postgres.statements", "postgres.columns", "postgres.server"])
def select_star(facts, t):
    hidden = _hidden(facts["postgres.statements"], t["min_calls"])
    return unless_hidden(_select_star(facts, t), len(hidden), HIDDEN_TEXTS, facts)


def _select_star(facts, t) -> Outcome:
    tables = _tables_of(facts["postgres.columns"])
    catalog = Catalog(tables)
    hits: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row, sh in _workload(facts["postgres.statements"], t["min_calls"], "*"):
        for ref in sh.star_tables:
            key = catalog.resolve(ref.schema, ref.name)
            if key and len(tables[key]) >= t["min_columns"]:
                hits[key].append(row)
    findings = []
    for key, rows in sorted(hits.items(), key=lambda kv: -sum(r["calls"] for r in kv[1])):
        columns = tables[key]
        wide = [c["name"] for c in columns if c["type"].startswith(_WIDE_TYPES) or c["type"].endswith("[]")]
        calls = sum(r["calls"] for r in rows)
        name = qualified(*key)
        worst = max(rows, key=lambda r: r["calls"])
        findings.append(Finding(
            "fail", name,
            f"SELECT * on {name} ({len(columns)} columns, {len(wide)} of variable width) in {len(rows)} statements, "
            f"{calls:,} calls, e.g. {short_sql(worst['query'], 100)}: name only the columns the code reads "
            f"(fewer bytes read and sent, index-only scans possible)",
            None, {"columns": len(columns), "variable_width_columns": len(wide), "calls": calls,
                   "statements": len(rows), "queryids": [r["queryid"] for r in rows[:10]]}))
    metrics = {"tables": len(findings), "calls": sum(f.evidence["calls"] for f in findings)}
    if not findings:
        return Outcome.passed(f"no statement called {t['min_calls']}+ times selects * from a table of "
                              f"{t['min_columns']}+ columns", metrics=metrics)
    return Outcome.scored(penalty(findings), f"SELECT * on {len(findings)} wide tables", metrics=metrics, findings=findings)


# --- db.n_plus_one --------------------------------------------------------------------------

def _singular(name: str) -> set[str]:
    forms = {name}
    if name.endswith("ies"):
        forms.add(name[:-3] + "y")
    if name.endswith("es"):
        forms.add(name[:-2])
    if name.endswith("s"):
        forms.add(name[:-1])
    return forms


def _related_tables(facts, tables: dict[tuple[str, str], list[Row]]):
    """For a lookup on (table, columns): the tables whose list queries would drive it.
    Fetching a parent by its key per child row: the children's table (a foreign key
    child → parent). Fetching children by their foreign key per parent: the parent's
    table. Without foreign keys, the Rails/Django naming (`user_id` → `users.id`)."""
    by_key: dict[tuple[tuple[str, str], tuple[str, ...]], set[tuple[str, str]]] = defaultdict(set)
    for fk in facts["postgres.foreign_keys"]:
        child, parent = (fk["schema"], fk["table"]), (fk["ref_schema"], fk["ref_table"])
        by_key[(parent, tuple(sorted(fk.get("ref_columns") or ["id"])))].add(child)
        by_key[(child, tuple(sorted(fk["columns"])))].add(parent)
    by_column: dict[str, set[tuple[str, str]]] = defaultdict(set)  # "user_id" -> tables having it
    by_name: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for key, columns in tables.items():
        by_name[key[1]].add(key)
        for column in columns:
            if column["name"].endswith("_id"):
                by_column[column["name"]].add(key)

    def related(table: tuple[str, str], columns: tuple[str, ...]) -> set[tuple[str, str]]:
        found = by_key.get((table, columns))
        if found:
            return found
        if columns == ("id",):
            return {k for form in _singular(table[1]) for k in by_column.get(f"{form}_id", ())} - {table}
        if len(columns) == 1 and columns[0].endswith("_id"):
            stem = columns[0][:-3]
            return {k for name in (stem, stem + "s", stem + "es") for k in by_name.get(name, ())} - {table}
        return set()

    return related


@check("db.n_plus_one", requires=["postgres.statements", "postgres.foreign_keys", "postgres.columns", "postgres.server"])
def n_plus_one(facts, t):
    outcome, undriven = _n_plus_one(facts, t)
    statements = facts["postgres.statements"]
    # A hidden statement called min_calls+ times may be a lookup; one returning several rows
    # may be the list query that drives a hot lookup seen here without one.
    hottest = max(undriven, default=0)  # the ratio grows with the lookup's calls: the hottest decides
    hidden = {id(row): row for row in _hidden(statements, t["min_calls"])}
    for row in statements:
        if hidden_statement(row) and _rows_per_call(row) >= 2 and hottest / max(1, row["calls"]) >= t["ratio"]:
            hidden[id(row)] = row
    return unless_hidden(outcome, len(hidden), HIDDEN_TEXTS, facts)


def _n_plus_one(facts, t) -> tuple[Outcome, list[int]]:
    tables = _tables_of(facts["postgres.columns"])
    catalog = Catalog(tables)
    related = _related_tables(facts, tables)
    statements = facts["postgres.statements"]
    # Hot lookups first, with the tables whose list queries would drive them.
    lookups = []
    for row, sh in _workload(statements, t["min_calls"], "="):
        key = catalog.resolve(sh.lookup.table.schema, sh.lookup.table.name) if sh.lookup else None
        if key is not None:
            lookups.append((row, sh.lookup, key, related(key, sh.lookup.columns)))
    wanted = {name.lower() for *_, around in lookups for _, name in around}
    # The most-called list query (a SELECT returning several rows per call) per wanted
    # table; a statement that names none of them is not parsed.
    drivers: dict[tuple[str, str], Row] = {}
    for row in statements:
        if _rows_per_call(row) < 2 or hidden_statement(row) or wanted.isdisjoint(_WORD.findall(row["query"].lower())):
            continue
        sh = shape(row["query"])
        if sh.kind == "select":
            for ref in sh.tables:
                key = catalog.resolve(ref.schema, ref.name)
                if key and (key not in drivers or drivers[key]["calls"] < row["calls"]):
                    drivers[key] = row
    worst: dict[tuple[str, str], tuple[float, Row, Row, Any]] = {}
    undriven = []  # calls of hot lookups with no list query seen around them
    for row, lookup, key, around_keys in lookups:
        around = [drivers[k] for k in around_keys if k in drivers and drivers[k] is not row]
        if not around:
            if around_keys:
                undriven.append(row["calls"])
            continue  # a hot lookup with no list query around it is just a hot endpoint
        driver = max(around, key=lambda r: r["calls"])
        ratio = row["calls"] / max(1, driver["calls"])
        if ratio >= t["ratio"] and (key not in worst or worst[key][0] < ratio):
            worst[key] = (ratio, row, driver, lookup)
    findings = []
    for key, (ratio, row, driver, lookup) in sorted(worst.items(), key=lambda kv: -kv[1][1]["calls"]):
        name = qualified(*key)
        where = " AND ".join(f"{quote_ident(c)} = $n" for c in lookup.columns)
        findings.append(Finding(
            "fail", name,
            f"{name} is read one row at a time (WHERE {where}) {row['calls']:,} times, {ratio:.0f}× as often as the "
            f"list query it follows ({driver['calls']:,} calls, {_rows_per_call(driver):.0f} rows each: "
            f"{short_sql(driver['query'], 80)}); fetch them in one query with = ANY($1) or a join",
            Fix.manual(batched(row["query"], lookup)),
            {"calls": row["calls"], "driver_calls": driver["calls"], "ratio": round(ratio, 1),
             "driver_rows_per_call": round(_rows_per_call(driver), 1), "mean_ms": round(row["mean_ms"], 3),
             "total_ms": round(row["total_ms"], 1), "queryid": row["queryid"], "driver_queryid": driver["queryid"]}))
    metrics = {"patterns": len(findings), "extra_round_trips": sum(f.evidence["calls"] - f.evidence["driver_calls"] for f in findings)}
    if not findings:
        return Outcome.passed("no single-row lookup runs many times per list query", metrics=metrics), undriven
    return Outcome.scored(penalty(findings), f"{len(findings)} N+1 lookup patterns", metrics=metrics,
                          findings=findings), undriven


# --- db.offset_pagination -----------------------------------------------------------------------

def _keyset(order_by: tuple[tuple[str, bool], ...]) -> str:
    columns = [c for c, _ in order_by]
    directions = {desc for _, desc in order_by}
    if not columns or "<expression>" in columns or len(directions) > 1:
        return "-- page by the last row seen: WHERE (sort columns) > (last values) ORDER BY sort columns LIMIT $n"
    desc = directions.pop()
    cols = ", ".join(quote_ident(c) for c in columns)
    last = ", ".join(f"${i + 1}" for i in range(len(columns)))
    op = "<" if desc else ">"
    where = f"{cols} {op} {last}" if len(columns) == 1 else f"({cols}) {op} ({last})"
    order = ", ".join(f"{quote_ident(c)}{' DESC' if desc else ''}" for c in columns)
    return f"… WHERE {where} ORDER BY {order} LIMIT ${len(columns) + 1}"


@check("db.offset_pagination", requires=["postgres.statements", "postgres.server"])
def offset_pagination(facts, t):
    hidden = _hidden(facts["postgres.statements"], t["min_calls"])
    return unless_hidden(_offset_pagination(facts, t), len(hidden), HIDDEN_TEXTS, facts)


def _offset_pagination(facts, t) -> Outcome:
    findings = []
    for row, sh in _workload(facts["postgres.statements"], t["min_calls"], "offset"):
        if sh.paging is None:
            continue
        rows = max(1.0, _rows_per_call(row))
        blocks = ((row.get("shared_blks_hit") or 0) + (row.get("shared_blks_read") or 0)) / max(1, row["calls"])
        per_row = blocks / rows
        deep = per_row >= t["max_blocks_per_row"] or row["mean_ms"] > t["mean_ms"]
        note = "" if sh.paging.order_by else " (and without ORDER BY the pages are in no defined order)"
        findings.append(Finding(
            "fail" if deep else "warn", statement_object(row),
            f"OFFSET pagination, {row['calls']:,} calls: each page reads and discards the rows before it "
            f"({blocks:.0f} buffer pages per call for {rows:.0f} rows returned, mean {row['mean_ms']:.1f} ms){note}; "
            f"page by the last row seen instead (keyset), with an index on the sort columns",
            Fix.manual(_keyset(sh.paging.order_by)),
            {"queryid": row["queryid"], "calls": row["calls"], "mean_ms": round(row["mean_ms"], 3),
             "rows_per_call": round(rows, 1), "blocks_per_call": round(blocks, 1),
             "blocks_per_row": round(per_row, 2)}))
    findings.sort(key=lambda f: (f.severity != "fail", -f.evidence["calls"]))
    metrics = {"statements": len(findings), "deep": sum(1 for f in findings if f.severity == "fail")}
    if not findings:
        return Outcome.passed(f"no statement called {t['min_calls']}+ times pages with OFFSET", metrics=metrics)
    return Outcome.scored(penalty(findings), f"{len(findings)} statements page with OFFSET "
                                             f"({metrics['deep']} read far more than they return)",
                          metrics=metrics, findings=findings)


# --- db.prepared_statements ----------------------------------------------------------------------

@check("db.prepared_statements", requires=["postgres.statements", "postgres.settings", "postgres.server"])
def prepared_statements(facts, t):
    statements = facts["postgres.statements"]
    if statements and all(row.get("plans") is None for row in statements):
        return Outcome.skip("this pg_stat_statements has no plan counts (PostgreSQL 13+ needed)")
    tracking = (facts["postgres.settings"].get("pg_stat_statements.track_planning") or {}).get("setting")
    if tracking != "on":
        return Outcome.skip("pg_stat_statements.track_planning is off, so plans are not counted; enable it with "
                            "ALTER SYSTEM SET pg_stat_statements.track_planning = on; SELECT pg_reload_conf();")
    # A hidden statement's plans and calls are there: one that reuses its plans cannot be a
    # problem; one planned on most calls may be, and cannot be named.
    hidden = [row for row in _hidden(statements, t["min_calls"])
              if (row.get("plans") or 0) / row["calls"] > t["max_plans_per_call"]]
    return unless_hidden(_prepared_statements(statements, t), len(hidden), "statements of other roles planned on most "
                                                                           "calls (their text)", facts)


def _prepared_statements(statements: list[Row], t) -> Outcome:
    judged = [row for row, sh in _workload(statements, t["min_calls"]) if sh.is_dml and row.get("plans") is not None]
    if not judged:
        return Outcome.skip(_too_little(statements, t["min_calls"]), metrics={"judged": 0})
    plan_ms = sum(row.get("total_plan_ms") or 0 for row in judged)
    exec_ms = sum(row["total_ms"] or 0 for row in judged)
    share = plan_ms / (plan_ms + exec_ms) if plan_ms + exec_ms > 0 else 0.0
    calls = sum(row["calls"] for row in judged)
    plans = sum(row["plans"] for row in judged)
    replanned = sorted((row for row in judged if row["plans"] / row["calls"] > t["max_plans_per_call"]),
                       key=lambda r: -(r.get("total_plan_ms") or 0))
    score = lognormal(share, t["max_plan_share"], 4 * t["max_plan_share"])
    findings = []
    for row in replanned[:10]:
        row_plan_ms = row.get("total_plan_ms") or 0
        row_share = row_plan_ms / max(1e-9, row_plan_ms + (row["total_ms"] or 0))
        findings.append(Finding(
            "warn" if row_share >= t["max_plan_share"] else "info", statement_object(row),
            f"planned on {row['plans'] / row['calls']:.0%} of its {row['calls']:,} calls; planning is {row_share:.0%} "
            f"of its time ({row_plan_ms / row['plans']:.2f} ms a plan): use prepared statements",
            None, {"queryid": row["queryid"], "calls": row["calls"], "plans": row["plans"],
                   "plan_ms": round(row_plan_ms, 1), "plan_share": round(row_share, 3)}))
    metrics = {"judged": len(judged), "calls": calls, "plans": plans, "plans_per_call": round(plans / calls, 3),
               "plan_time_share": round(share, 4), "replanned": len(replanned)}
    return Outcome.scored(score, f"{plans / calls:.0%} of calls planned; planning is {share:.0%} of the time of "
                                 f"statements called {t['min_calls']}+ times", metrics=metrics, findings=findings)
