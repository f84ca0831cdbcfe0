"""pg_stat_statements in one place: how to enable it, and the text it shows for another
role's statement. Plain values (no driver), so that checks may import them; the rows are
read by `perfcheck.pg.queries`."""

from __future__ import annotations

from typing import Any

ENABLE_PG_STAT_STATEMENTS = (
    "shared_preload_libraries = 'pg_stat_statements' in postgresql.conf (then restart), "
    "and CREATE EXTENSION pg_stat_statements; in the database"
)
HIDDEN_TEXT = "<insufficient privilege>"  # the text of another role's statement without pg_read_all_stats


class NotAvailable(Exception):
    """pg_stat_statements cannot be read here; the message says how to enable it."""


def hidden_statement(row: dict[str, Any]) -> bool:
    """A pg_stat_statements row whose text this role may not read (another role's)."""
    return bool(row.get("hidden")) or (row.get("query") or HIDDEN_TEXT) == HIDDEN_TEXT
