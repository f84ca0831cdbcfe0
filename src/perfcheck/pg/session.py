"""perfcheck's PostgreSQL session, shared by the collector, the index advisor and
apply-indexes: how a session is opened (application_name, timeouts, read-only), how a
named query is loaded from a package's `sql/` folder and tagged `/* perfcheck */` (so that
the audit leaves perfcheck's own statements out of the workload it judges), and how an
error becomes one line that never carries the URL's password."""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from functools import cache
from importlib import resources
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row, no_result

from perfcheck.errors import TargetError
from perfcheck.pg import dsn, pooled, pooler
from perfcheck.pg.names import tagged
from perfcheck.redact import redact_url, scrub, secrets_in_url


def shared_dict_row(cursor: psycopg.Cursor[Any]) -> Any:
    """psycopg's dict_row, but equal strings in one result are one object. Written here
    because psycopg makes a new str for every value: on a catalog of 100,000 relations the
    same schema, table, column and type names repeat in every row, and sharing them keeps
    the catalog facts about a quarter smaller (228 → 166 MB) for ~1 µs a row."""
    if cursor.description is None:
        return no_result
    names = [column.name for column in cursor.description]
    share = {}.setdefault

    def value(v: Any) -> Any:
        if type(v) is str:
            return share(v, v)
        if type(v) is list:
            return [share(x, x) if type(x) is str else x for x in v]
        return v

    return lambda values: dict(zip(names, map(value, values)))


@cache
def sql_text(package: str, name: str) -> str:
    """The query `<package>/sql/<name>.sql`, tagged as perfcheck's own."""
    return tagged((resources.files(package) / "sql" / f"{name}.sql").read_text())


def one_line(exc: BaseException) -> str:
    """psycopg messages span lines (context, hints); a user wants the first meaningful one."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def describe_error(exc: Exception, secrets: list[str]) -> str | None:
    """A failed query as one secret-free line; None for what is not a database error."""
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return scrub(one_line(exc), secrets)  # "permission denied for view pg_stat_activity"
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return "the catalog query was cancelled by perfcheck's statement_timeout"
    if isinstance(exc, psycopg.Error):
        return scrub(one_line(exc), secrets)
    return None


def describe_connect_error(url: str, exc: psycopg.Error) -> str:
    where = redact_url(url)
    message = str(exc)
    for prefix in ("connection failed: ",):
        message = message.removeprefix(prefix)
    # libpq prefixes 'connection to server at "h" (ip), port p failed:'; keep what follows.
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    reason = lines[0] if lines else type(exc).__name__
    if "failed:" in reason:
        reason = reason.split("failed:", 1)[1].strip() or reason
    if reason.startswith("FATAL:"):
        reason = reason.removeprefix("FATAL:").strip()
    if "timeout expired" in reason:
        reason = "connection timed out"
    return scrub(f"postgres: cannot connect to {where}: {reason}", secrets_in_url(url))


def connect(url: str, options: dict[str, Any], *, read_only: bool = True, autocommit: bool = True,
            application_name: str = "perfcheck") -> psycopg.Connection:
    """A session set up for perfcheck; raises TargetError with a one-line, secret-free message.
    `url`: anything libpq takes and the ORM forms perfcheck sets parts of aside (see pg.dsn)."""
    timeout = max(1, int(round(options.get("connect_timeout_s", 5))))
    try:
        target = dsn.parse(url, os.environ).conninfo
    except dsn.DsnError as exc:
        raise TargetError(f"postgres: {exc}") from None
    try:
        conn = open_session(target, timeout, application_name, autocommit, marked=True)
    except psycopg.Error as exc:
        raise TargetError(describe_connect_error(url, exc)) from None
    statement_ms, lock_ms = int(options.get("statement_timeout_ms", 5000)), int(options.get("lock_timeout_ms", 1000))
    try:
        if read_only and not _direct(conn):
            # Behind a pooler (the start-up options did not reach the server): a session SET
            # would stay on the pooler's server connection and reach the application's next
            # transactions (read-only ones!). Each statement carries its limits instead.
            pooled.guard(conn, statement_ms, lock_ms)
            return conn
        # jit off: JIT compiles big catalog queries for longer than they run (6,000 indexes: 0.5 s → 0.2 s).
        conn.execute(tagged("SELECT set_config('statement_timeout', %s, false), set_config('lock_timeout', %s, false), "
                            "set_config('jit', 'off', false)"), (f"{statement_ms}ms", f"{lock_ms}ms"))
        if read_only:
            conn.execute(tagged("SET default_transaction_read_only = on"))
            conn.execute(tagged("SET idle_in_transaction_session_timeout = '10s'"))
    except psycopg.Error as exc:
        conn.close()
        raise TargetError(f"postgres: cannot set up a read-only session: {one_line(exc)}") from None
    return conn


# Passed in the start-up options: a session that sees it reached the server directly.
_DIRECT_MARK = "-c perfcheck.direct=on"


def open_session(conninfo: str, timeout: int, application_name: str, autocommit: bool,
                 marked: bool = False) -> psycopg.Connection:
    """A connection (without `options` when a pooler refuses it: see pg.pooler.connect);
    `marked`: with perfcheck's mark added to the start-up options (see `_direct`)."""
    extra: dict[str, Any] = {}
    if marked:
        own = conninfo_to_dict(conninfo).get("options") or ""
        extra["options"] = f"{own} {_DIRECT_MARK}".strip()
    return pooler.connect(conninfo, timeout, application_name=application_name, autocommit=autocommit,
                          row_factory=dict_row, **extra)


def _direct(conn: psycopg.Connection) -> bool:
    """Whether the start-up options reached the server: not through PgBouncer (it refuses
    or ignores them), nor any pooler that starts server sessions on its own."""
    row = conn.execute(tagged("SELECT current_setting('perfcheck.direct', true) AS direct")).fetchone()
    return bool(row) and row["direct"] == "on"


class Session:
    """An open connection and the package whose `sql/` folder names its queries."""

    def __init__(self, conn: psycopg.Connection, package: str):
        self.conn = conn
        self.package = package

    @classmethod
    def open(cls, url: str, options: dict[str, Any], package: str, **how: Any) -> Session:
        return cls(connect(url, options, **how), package)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    def text(self, name: str) -> str:
        return sql_text(self.package, name)

    def rows(self, name: str, params: Any = None, *, text: str | None = None,
             prepare: bool | None = None) -> list[dict[str, Any]]:
        """The rows of the named query (or of `text`, tagged already), as dicts."""
        with self.conn.cursor(row_factory=shared_dict_row) as cur:
            cur.execute(text or self.text(name), params or {}, prepare=prepare)
            return cur.fetchall()

    def pinned(self) -> AbstractContextManager[None]:
        """Statements on one server connection until the block ends, also through a
        transaction pooler (see perfcheck.pg.pooled); nothing to do on a direct session."""
        return pooled.pinned(self.conn)

    def using(self, package: str) -> Session:
        """The same connection, naming queries from another package's `sql/` folder."""
        return Session(self.conn, package)
