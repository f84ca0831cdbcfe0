"""Helpers shared by the PostgreSQL checks: settings in common units, statement parsing."""

from __future__ import annotations

from typing import Any

ENABLE_PG_STAT_STATEMENTS = (
    "shared_preload_libraries = 'pg_stat_statements' in postgresql.conf (then restart), "
    "and CREATE EXTENSION pg_stat_statements; in the database"
)

_MS_PER_UNIT = {"ms": 1, "s": 1000, "min": 60000, "h": 3600000, "d": 86400000, None: 1, "": 1}


def setting_ms(settings: dict[str, dict[str, Any]], name: str, value_key: str = "setting") -> int | None:
    """A time setting in milliseconds (pg_settings reports a value and its unit)."""
    row = settings.get(name)
    if row is None or row.get(value_key) in (None, ""):
        return None
    value = int(float(row[value_key]))
    return value if value <= 0 else value * _MS_PER_UNIT.get(row.get("unit"), 1)


def format_ms(ms: float | None) -> str:
    """A duration as PostgreSQL accepts it in SET: whole seconds as '30s', else milliseconds."""
    if ms is None or ms <= 0:
        return "off"
    if ms % 1000 == 0:
        return f"{int(ms // 1000)}s"
    return f"{int(ms)}ms"
