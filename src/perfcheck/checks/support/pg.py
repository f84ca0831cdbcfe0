"""Helpers shared by the PostgreSQL checks: settings in common units, statement parsing."""

from __future__ import annotations

from typing import Any

from perfcheck.model import Status
from perfcheck.pg.names import quote_ident
from perfcheck.pg.stat_statements import hidden_statement
from perfcheck.registry import Outcome


def _client_session(row: dict) -> bool:
    """A session of a client. Another role's hidden row has no backend_type: a client's has
    a user and a database, while the checkpointer, walwriter, autovacuum and replication
    launchers and workers lack one or the other (and must not count as connections)."""
    if row.get("backend_type"):
        return row["backend_type"] == "client backend"
    return bool(row.get("user")) and bool(row.get("database"))


def client_sessions(activity: list[dict]) -> list[dict]:
    return [row for row in activity if _client_session(row)]


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
    """How a pg_stat_statements entry is named in a finding: its text. Hidden statements
    never make findings (see `hidden_statement`); should one slip through, it is named by
    its role, never by the placeholder text or a NULL queryid."""
    if hidden_statement(row):
        return f"a statement of role {row.get('user') or 'unknown'} (text hidden)"
    return short_sql(row.get("query"))


def hidden_session(row: dict[str, Any]) -> bool:
    """A pg_stat_activity row of another role: no state (a visible client session has one)."""
    return bool(row.get("hidden")) or row.get("state") is None


def grant(facts: Any) -> str:
    """The statement that lets the audit role see everything the checks read."""
    role = (facts.get("postgres.server") or {}).get("user")
    return f"GRANT pg_monitor TO {quote_ident(role) if role else '<the audit role>'};"


def unless_hidden(outcome: Outcome, hidden: int, what: str, facts: Any) -> Outcome:
    """`outcome` judged on what this role sees, with `hidden` rows it cannot see that could
    change it (`what` names them: "sessions of other roles in a transaction"). A problem
    seen stands, with a note; a pass or skip on partial data becomes an error with the grant."""
    outcome.metrics["hidden"] = hidden
    if not hidden:
        return outcome
    role = (facts.get("postgres.server") or {}).get("user") or "the audit role"
    if hidden == 1:  # "statements of other roles …" → "statement of other roles …"
        noun, _, rest = what.partition(" ")
        what = f"{noun.removesuffix('s')} {rest}"
    if outcome.status in (Status.WARN, Status.FAIL):
        outcome.summary += f"; role {role} cannot see {hidden} {what} ({grant(facts)} shows them)"
        return outcome
    return Outcome.error(f"not judged: role {role} cannot see {hidden} {what}; run {grant(facts)} "
                         f"(pg_read_all_stats alone also does)", metrics=outcome.metrics)


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
