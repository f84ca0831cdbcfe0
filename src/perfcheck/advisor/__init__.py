"""The index advisor behind db.missing_indexes and `perfcheck apply-indexes`.

    from perfcheck.advisor import advise
    advice = advise("postgresql://app@db/app")          # read-only, like the audit
    for rec in advice.recommendations:
        print(rec.label, rec.cost_before, "->", rec.cost_after, rec.size_bytes)

Inside an audit the PostgreSQL collector calls `analyse()` on its own read-only session
(the `postgres.index_advice` fact); `advise()` opens such a session itself, for callers
outside an audit. The advisor's catalog queries are in `advisor/sql/`; it never imports
a collector.
"""

from __future__ import annotations

from typing import Any

from perfcheck import config
from perfcheck.advisor.analyse import SQL_PACKAGE, analyse
from perfcheck.advisor.model import CHECK_ID, Advice, Options, Recommendation, StatementUse
from perfcheck.pg import queries
from perfcheck.pg.session import Session, describe_error
from perfcheck.pg.stat_statements import NotAvailable
from perfcheck.redact import secrets_in_url

__all__ = ["CHECK_ID", "Advice", "AdviceUnavailable", "Options", "Recommendation", "StatementUse", "advise", "analyse"]


class AdviceUnavailable(Exception):
    """No advice could be had (no pg_stat_statements, a permission…); one line, no secrets."""


def advise(url: str, thresholds: dict[str, Any] | None = None, postgres_options: dict[str, Any] | None = None,
           secrets: list[str] | None = None) -> Advice:
    """The advice for the database at `url`. `thresholds` override db.missing_indexes'
    (min_calls, min_saving…); `postgres_options` is perfcheck.yaml's postgres section.
    Raises TargetError when the database can't be reached, AdviceUnavailable otherwise."""
    options = {**config.DEFAULTS["postgres"], **(postgres_options or {})}
    secrets = (secrets or []) + secrets_in_url(url)
    with Session.open(url, options, SQL_PACKAGE) as session:
        try:
            installed = queries.extensions(session)
            rows = queries.statements(session, installed, int(options.get("max_statements", 5000)))
            with session.pinned():  # HypoPG's indexes live in one backend, also behind a pooler
                return analyse(session, rows, installed, Options.from_thresholds(thresholds))
        except NotAvailable as exc:
            raise AdviceUnavailable(str(exc)) from None
        except Exception as exc:  # a failed query: one line, as the audit reports it
            raise AdviceUnavailable(describe_error(exc, secrets) or f"{type(exc).__name__}: {exc}") from None
