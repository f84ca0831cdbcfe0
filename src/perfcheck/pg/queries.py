"""Catalog reads shared by the PostgreSQL collector and the index advisor: the installed
extensions and pg_stat_statements' rows (the postgres.statements fact and the advisor's
workload are the same rows)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from perfcheck.pg.names import tagged
from perfcheck.pg.session import Session
from perfcheck.pg.stat_statements import ENABLE_PG_STAT_STATEMENTS, HIDDEN_TEXT, NotAvailable

PACKAGE = "perfcheck.pg"


def extensions(session: Session) -> dict[str, dict[str, Any]]:
    """The installed extensions by name: version and schema."""
    return {row["name"]: row for row in session.using(PACKAGE).rows("extensions")}


def statements(session: Session, installed: dict[str, dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """This database's statements, top `limit` by total time, perfcheck's own left out.
    Raises NotAvailable when the extension is not installed or not loaded."""
    ext = installed.get("pg_stat_statements")
    if ext is None:
        raise NotAvailable(f"pg_stat_statements is not installed in this database; enable it with {ENABLE_PG_STAT_STATEMENTS}")
    own = session.using(PACKAGE)
    schema = ext["schema"]
    columns = {row["column_name"] for row in own.rows(
        "columns_of_view", text=tagged("SELECT column_name FROM information_schema.columns "
                                       "WHERE table_schema = %(schema)s AND table_name = 'pg_stat_statements'"),
        params={"schema": schema})}
    if "total_exec_time" in columns:  # PostgreSQL 13+
        total, mean = "s.total_exec_time", "s.mean_exec_time"
    else:
        total, mean = "s.total_time", "s.mean_time"
    plans = "s.plans" if "plans" in columns else "NULL::bigint"
    plan_ms = "s.total_plan_time" if "total_plan_time" in columns else "NULL::float8"
    text = own.text("statements").format(total_ms=total, mean_ms=mean, plans=plans, plan_ms=plan_ms,
                                         schema=sql.Identifier(schema).as_string(session.conn))
    try:
        rows = own.rows("statements", {"limit": limit}, text=text)
    except psycopg.errors.ObjectNotInPrerequisiteState:
        raise NotAvailable(f"pg_stat_statements is installed but not loaded; set {ENABLE_PG_STAT_STATEMENTS}") from None
    for row in rows:
        # Another role's statement, without pg_read_all_stats: its counters are there, its
        # text and queryid are not. Marked, so that no check judges or names it by its text.
        row["hidden"] = row["query"] is None or row["query"] == HIDDEN_TEXT or row["queryid"] is None
        if row["hidden"]:
            row["query"] = HIDDEN_TEXT
    return rows
