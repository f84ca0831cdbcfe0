"""Helpers shared by `db.n_plus_one`, `db.offset_pagination`, `db.prepared_statements`, `db.select_star`, `db.slow_queries`."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from perfcheck.pg.stat_statements import hidden_statement
from perfcheck.checks.support.statement_shape import Shape, shape

Row = dict[str, Any]


def rows_per_call(row: Row) -> float:
    return (row.get("rows") or 0) / max(1, row["calls"])


def repeated_statements(statements: list[Row], min_calls: int, needle: str = "") -> list[tuple[Row, Shape]]:
    """Statements called min_calls+ times with their shapes. `needle`, when given, is text
    the statement must contain to matter (`*`, `offset`): a cheap test that spares parsing
    the rest."""
    return [(row, shape(row["query"])) for row in statements
            if row["calls"] >= min_calls and not hidden_statement(row) and (not needle or needle in row["query"].lower())]


def hidden_repeated(statements: list[Row], min_calls: int) -> list[Row]:
    """Other roles' statements called min_calls+ times, whose text this role may not read:
    any of them could be what a check looks for (their counters alone can't tell)."""
    return [row for row in statements if row["calls"] >= min_calls and hidden_statement(row)]


HIDDEN_TEXTS = "statements of other roles (their text)"


def too_little_workload(statements: list[Row], min_calls: int) -> str:
    """Why a check skips for want of workload; other roles' statements that reach here were
    called often enough but cannot change its verdict (their counters say so)."""
    others = len(hidden_repeated(statements, min_calls))
    if others:
        return (f"no statement whose text this role can read has been called {min_calls}+ times yet; the {others} "
                f"of other roles that have cannot fail this check")
    return f"no statement has been called {min_calls}+ times yet: too little workload to judge"


def tables_of(columns: list[Row]) -> dict[tuple[str, str], list[Row]]:
    tables: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for column in columns:
        tables[(column["schema"], column["table"])].append(column)
    return tables
