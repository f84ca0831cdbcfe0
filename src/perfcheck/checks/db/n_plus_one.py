"""`db.n_plus_one`: No N+1 query patterns."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from perfcheck.checks.support.pg import Catalog, penalty, short_sql, unless_hidden
from perfcheck.pg.stat_statements import hidden_statement
from perfcheck.checks.support.statement_shape import batched, shape
from perfcheck.checks.support.workload import HIDDEN_TEXTS, Row, hidden_repeated, repeated_statements, rows_per_call, tables_of
from perfcheck.model import Finding, Fix
from perfcheck.pg.names import qualified, quote_ident
from perfcheck.registry import Outcome, check

_WORD = re.compile(r"[a-z_][a-z0-9_$]*")  # identifiers in a lower-cased statement


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
    hidden = {id(row): row for row in hidden_repeated(statements, t["min_calls"])}
    for row in statements:
        if hidden_statement(row) and rows_per_call(row) >= 2 and hottest / max(1, row["calls"]) >= t["ratio"]:
            hidden[id(row)] = row
    return unless_hidden(outcome, len(hidden), HIDDEN_TEXTS, facts)


def _n_plus_one(facts, t) -> tuple[Outcome, list[int]]:
    tables = tables_of(facts["postgres.columns"])
    catalog = Catalog(tables)
    related = _related_tables(facts, tables)
    statements = facts["postgres.statements"]
    # Hot lookups first, with the tables whose list queries would drive them.
    lookups = []
    for row, sh in repeated_statements(statements, t["min_calls"], "="):
        key = catalog.resolve(sh.lookup.table.schema, sh.lookup.table.name) if sh.lookup else None
        if key is not None:
            lookups.append((row, sh.lookup, key, related(key, sh.lookup.columns)))
    wanted = {name.lower() for *_, around in lookups for _, name in around}
    # The most-called list query (a SELECT returning several rows per call) per wanted
    # table; a statement that names none of them is not parsed.
    drivers: dict[tuple[str, str], Row] = {}
    for row in statements:
        if rows_per_call(row) < 2 or hidden_statement(row) or wanted.isdisjoint(_WORD.findall(row["query"].lower())):
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
            f"list query it follows ({driver['calls']:,} calls, {rows_per_call(driver):.0f} rows each: "
            f"{short_sql(driver['query'], 80)}); fetch them in one query with = ANY($1) or a join",
            Fix.manual(batched(row["query"], lookup)),
            {"calls": row["calls"], "driver_calls": driver["calls"], "ratio": round(ratio, 1),
             "driver_rows_per_call": round(rows_per_call(driver), 1), "mean_ms": round(row["mean_ms"], 3),
             "total_ms": round(row["total_ms"], 1), "queryid": row["queryid"], "driver_queryid": driver["queryid"]}))
    metrics = {"patterns": len(findings), "extra_round_trips": sum(f.evidence["calls"] - f.evidence["driver_calls"] for f in findings)}
    if not findings:
        return Outcome.passed("no single-row lookup runs many times per list query", metrics=metrics), undriven
    return Outcome.scored(penalty(findings), f"{len(findings)} N+1 lookup patterns", metrics=metrics,
                          findings=findings), undriven
