"""Asking the planner "what if": generic plans of workload statements, with and without
HypoPG's hypothetical indexes.

pg_stat_statements keeps statements with `$n` in place of their constants, so they are
planned generically, as a prepared statement's plan is: on PostgreSQL 16+ with
`EXPLAIN (GENERIC_PLAN)`, before that with PREPARE under
`plan_cache_mode = force_generic_plan` and `EXPLAIN EXECUTE` with NULL arguments. A
statement is prepared afresh for each plan: a cached generic plan would not notice a
hypothetical index created after it.

Everything here works in the audit's read-only session: hypothetical indexes live in
the backend's memory only, PREPARE and EXPLAIN write nothing. Every statement carries the
`/* perfcheck */` tag so that pg_stat_statements' view of the workload leaves it out. On
leaving, the session is put back as it was: hypothetical indexes reset (also on error),
plan_cache_mode reset.
"""

from __future__ import annotations

import json
import re
from typing import Any

import psycopg
from psycopg import sql

from perfcheck.pg.names import OWN_TAG, qualified, tagged
from perfcheck.advisor.workload import Statement

TAG = "/* perfcheck */ "
_STATEMENT = "perfcheck_whatif"


class PlanError(Exception):
    """A statement could not be planned; the message is one line, fit for a skip reason."""


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def skip_reason(exc: BaseException) -> str:
    """A skip reason that groups alike failures: names and positions taken out."""
    text = re.sub(r'"[^"]*"', '"…"', _one_line(exc))
    return "cannot be planned: " + re.sub(r"\$\d+", "$n", text)[:100]


class WhatIf:
    def __init__(self, conn: psycopg.Connection, hypopg_schema: str | None = None):
        self.conn = conn
        self.version = conn.info.server_version
        self.hypopg = sql.Identifier(hypopg_schema) if hypopg_schema else None
        self.hypothetical: dict[int, str] = {}  # oid -> hypothetical index name

    # --- the session -----------------------------------------------------------------
    def __enter__(self) -> WhatIf:
        if self.version < 160000:
            self._run("SET plan_cache_mode = force_generic_plan")
        self.reset()
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self.reset()
            self._run("RESET plan_cache_mode")
        except psycopg.Error:
            pass  # a broken session takes its hypothetical indexes with it

    def _run(self, text: str, params: Any = None) -> list[Any]:
        text = tagged(text) if isinstance(text, str) else sql.SQL(TAG) + text + sql.SQL("\n" + OWN_TAG)
        cur = self.conn.execute(text, params, prepare=False)
        return cur.fetchall() if cur.description else []

    # --- plans -------------------------------------------------------------------------
    def plan(self, statement: Statement) -> dict[str, Any]:
        """The generic plan's root node (EXPLAIN (VERBOSE, FORMAT JSON))."""
        try:
            if statement.values and statement.params:
                rows = self._prepared_plan(statement, custom=True)
            elif statement.params == 0:
                rows = self._run("EXPLAIN (VERBOSE, FORMAT JSON) " + statement.query)
            elif self.version >= 160000:
                rows = self._run("EXPLAIN (GENERIC_PLAN, VERBOSE, FORMAT JSON) " + statement.query)
            else:
                rows = self._prepared_plan(statement)
        except psycopg.errors.QueryCanceled as exc:
            raise PlanError("cannot be planned: planning hit perfcheck's statement_timeout") from exc
        except psycopg.Error as exc:
            if self.conn.broken:
                raise
            raise PlanError(skip_reason(exc)) from exc
        value = next(iter(rows[0].values())) if isinstance(rows[0], dict) else rows[0][0]
        if isinstance(value, str):
            value = json.loads(value)
        return value[0]["Plan"]

    def _prepared_plan(self, statement: Statement, custom: bool = False) -> list[Any]:
        """PREPARE, EXPLAIN EXECUTE with NULLs, DEALLOCATE: one round trip (a simple query
        with three statements, each tagged). The newline ends a trailing -- comment; the
        statement is one statement (workload.classify made sure).

        A `$n` the text never uses (`… WHERE user_id = $2`) has no type PREPARE could infer,
        where 16+'s GENERIC_PLAN does not mind: it is declared text, the others `unknown`
        (inferred as without a declaration)."""
        nulls = ", ".join(statement.values if custom and statement.values else ["NULL"] * statement.params)
        used = {int(n) for n in re.findall(r"\$(\d+)", statement.query)}
        types = ""
        if any(n not in used for n in range(1, statement.params + 1)):
            types = "(" + ", ".join("unknown" if n in used else "text" for n in range(1, statement.params + 1)) + ")"
        steps = [f"PREPARE {_STATEMENT}{types} AS {statement.query.rstrip().rstrip(';')}",
                 f"EXPLAIN (VERBOSE, FORMAT JSON) EXECUTE {_STATEMENT}({nulls})", f"DEALLOCATE {_STATEMENT}"]
        if custom:  # representative values: the plan the application gets for them, not the generic one
            steps = ["SET plan_cache_mode = force_custom_plan", *steps,
                     f"SET plan_cache_mode = {'force_generic_plan' if self.version < 160000 else 'auto'}"]
        # Each statement tagged at both ends: from PostgreSQL 18 pg_stat_statements keeps a
        # statement of a multi-statement string from its first token (see pg.names.tagged).
        text = ";\n".join(tagged(step) for step in steps)
        try:
            cur = self.conn.execute(text, prepare=False)
            while cur.description is None and cur.nextset():
                pass
            return cur.fetchall()
        except psycopg.Error:
            # A prepared statement outlives the failed transaction around it.
            if not self.conn.broken and self._run("SELECT 1 FROM pg_prepared_statements WHERE name = %s", (_STATEMENT,)):
                self._run(f"DEALLOCATE {_STATEMENT}")
            if custom and not self.conn.broken:
                self._run("SET plan_cache_mode = force_generic_plan" if self.version < 160000 else "RESET plan_cache_mode")
            raise

    # --- hypothetical indexes -----------------------------------------------------------
    def create(self, schema: str, table: str, keys: list[str], method: str = "btree", *,
               include: tuple[str, ...] = (), where: str | None = None) -> tuple[int, str]:
        definition = f"CREATE INDEX ON {qualified(schema, table)} USING {method} ({', '.join(keys)})"
        if include:
            definition += f" INCLUDE ({', '.join(include)})"
        if where:
            definition += f" WHERE {where}"
        try:
            row = self._run(sql.SQL("SELECT indexrelid, indexname FROM {}.hypopg_create_index(%s)").format(self.hypopg),
                            (definition,))[0]
        except psycopg.Error as exc:
            if self.conn.broken:
                raise
            raise PlanError(_one_line(exc)) from exc
        oid, name = (row["indexrelid"], row["indexname"]) if isinstance(row, dict) else row
        self.hypothetical[int(oid)] = name
        return int(oid), name

    def drop(self, oid: int) -> None:
        self._run(sql.SQL("SELECT {}.hypopg_drop_index(%s)").format(self.hypopg), (oid,))
        self.hypothetical.pop(oid, None)

    def size(self, oid: int) -> int:
        row = self._run(sql.SQL("SELECT {}.hypopg_relation_size(%s) AS size").format(self.hypopg), (oid,))[0]
        return int(row["size"] if isinstance(row, dict) else row[0])

    def reset(self) -> None:
        if self.hypopg is not None:
            self._run(sql.SQL("SELECT {}.hypopg_reset()").format(self.hypopg))
        self.hypothetical.clear()
