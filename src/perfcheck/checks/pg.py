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


# --- scoring, naming and wording shared by the database checks ------------------------

# A findings-based check multiplies its score by one of these per finding: one problem
# that fails puts the check at 0.2 (clearly failing, yet above a check at 0 such as
# timeouts that are all off); one warning leaves it at 0.75, two at 0.56, three fail.
FAIL_FACTOR = 0.2
WARN_FACTOR = 0.75


def penalty(findings: list[Any]) -> float:
    """The score of a check that counts problems: 1.0 with none, less with each."""
    score = 1.0
    for finding in findings:
        score *= {"fail": FAIL_FACTOR, "warn": WARN_FACTOR}.get(finding.severity, 1.0)
    return score


def short_sql(text: str | None, limit: int = 120) -> str:
    """A statement on one line, cut to `limit` characters, as an object name or in a message."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def statement_object(row: dict[str, Any]) -> str:
    """How a pg_stat_statements entry is named in a finding: its text, or its queryid when
    the text is hidden from this role."""
    query = row.get("query") or ""
    if query.startswith("<insufficient privilege>"):
        return f"queryid {row.get('queryid')} (text hidden: grant pg_read_all_stats)"
    return short_sql(query)


def int_setting(settings: dict[str, dict[str, Any]], name: str, default: int = 0) -> int:
    row = settings.get(name)
    try:
        return int(float(row["setting"])) if row else default
    except (TypeError, ValueError):
        return default


class Catalog:
    """Resolves a table named in a statement (maybe without its schema) to a catalog
    entry. Without the app's search_path, an unqualified name is matched in `public`
    first, then in the only schema that has it, else in the first schema by name."""

    def __init__(self, keys: Any):
        self.by_name: dict[str, list[str]] = {}
        for schema, name in keys:
            schemas = self.by_name.setdefault(name, [])
            if schema not in schemas:
                schemas.append(schema)
        for schemas in self.by_name.values():
            schemas.sort(key=lambda s: (s != "public", s))

    def resolve(self, schema: str | None, name: str) -> tuple[str, str] | None:
        schemas = self.by_name.get(name)
        if not schemas:
            return None
        if schema is None:
            return schemas[0], name
        return (schema, name) if schema in schemas else None
