"""The index advisor behind db.missing_indexes and `perfcheck apply-indexes`.

    from perfcheck.advisor import advise
    advice = advise("postgresql://app@db/app")          # read-only, like the audit
    for rec in advice.recommendations:
        print(rec.label, rec.cost_before, "->", rec.cost_after, rec.size_bytes)

It runs inside the PostgreSQL collector (the `postgres.index_advice` fact), on the
audit's read-only session; `advise()` is that same path for callers outside an audit.
"""

from __future__ import annotations

from typing import Any

from perfcheck.advisor.model import Advice, Options, Recommendation, StatementUse

__all__ = ["Advice", "AdviceUnavailable", "Options", "Recommendation", "StatementUse", "advise"]


class AdviceUnavailable(Exception):
    """No advice could be had (no pg_stat_statements, a permission…); one line, no secrets."""


def advise(url: str, thresholds: dict[str, Any] | None = None, postgres_options: dict[str, Any] | None = None,
           secrets: list[str] | None = None) -> Advice:
    """The advice for the database at `url`. `thresholds` override db.missing_indexes'
    (min_calls, min_saving…); `postgres_options` is perfcheck.yaml's postgres section.
    Raises TargetError when the database can't be reached, AdviceUnavailable otherwise."""
    from perfcheck import config
    from perfcheck.collectors import Unavailable
    from perfcheck.collectors.postgres.collector import PostgresCollector
    from perfcheck.redact import secrets_in_url
    from perfcheck.advisor.model import CHECK_ID

    collector = PostgresCollector(url, {**config.DEFAULTS["postgres"], **(postgres_options or {})},
                                  (secrets or []) + secrets_in_url(url))
    collector.thresholds = {CHECK_ID: dict(thresholds or {})}
    value = collector.gather({"postgres.index_advice"})["postgres.index_advice"]
    if isinstance(value, Unavailable):
        raise AdviceUnavailable(value.reason)
    return Advice.from_dict(value)
