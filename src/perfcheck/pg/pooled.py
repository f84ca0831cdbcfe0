"""perfcheck's statements through a pooler that keeps no session for it (PgBouncer in
transaction mode, Neon's and Supabase's pooled endpoints): a session SET would stay on the
pooler's server connection and reach the application's next transactions, so each
statement gets its limits inside a transaction of its own instead:

    BEGIN READ ONLY; SET LOCAL statement_timeout …; SAVEPOINT …   (one round trip)
    the statement
    ROLLBACK                                                       (undoes any SET it made)

`pinned()` keeps one transaction (so one server connection) across several statements,
for work that needs the same backend throughout (HypoPG's hypothetical indexes, a
PREPARE and its EXPLAIN EXECUTE); a failed statement there is rolled back to its savepoint
and the rest go on. Whatever happens, the transaction ends with ROLLBACK, and a statement
that failed leaves no prepared statement of perfcheck's behind."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row

from perfcheck.pg.names import OWN_TAG, tagged

_SAVEPOINT = "perfcheck_statement"
# Left by a PREPARE whose EXPLAIN EXECUTE failed: PREPARE outlives a rollback.
_OWN_PREPARED = tagged("SELECT name FROM pg_prepared_statements WHERE from_sql AND strpos(statement, %s) > 0")


class Limits:
    """The session settings perfcheck would SET on a direct connection, as SET LOCALs."""

    def __init__(self, statement_timeout_ms: int, lock_timeout_ms: int):
        self.begin, self.begin_pinned = (tagged(
            f"BEGIN READ ONLY; SET LOCAL statement_timeout = '{int(statement_timeout_ms)}ms'; "
            f"SET LOCAL lock_timeout = '{int(lock_timeout_ms)}ms'; "
            # Should perfcheck die in the middle, the server ends its transaction soon; pinned,
            # the advisor's own work between statements must fit.
            f"SET LOCAL idle_in_transaction_session_timeout = '{idle_s}s'; "
            f"SET LOCAL jit = off; SAVEPOINT {_SAVEPOINT}") for idle_s in (10, 60))
        self.pinned = False


def _plain(conn: psycopg.Connection, text: str, params: Any = None) -> list[Any]:
    """A statement of the wrapper's own (a plain cursor: this one's results stay as they are)."""
    cur = psycopg.Cursor(conn, row_factory=tuple_row)
    cur.execute(text, params, prepare=False)
    return cur.fetchall() if cur.description else []


def _after_failure(conn: psycopg.Connection) -> None:
    """Back to the savepoint, and perfcheck's own prepared statements deallocated."""
    if conn.broken or conn.info.transaction_status != TransactionStatus.INERROR:
        return
    _plain(conn, tagged(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}"))
    for (name,) in _plain(conn, _OWN_PREPARED, (OWN_TAG,)):
        _plain(conn, tagged(f'DEALLOCATE "{name}"'))


def _end(conn: psycopg.Connection) -> None:
    if not conn.broken and conn.info.transaction_status != TransactionStatus.IDLE:
        _plain(conn, tagged("ROLLBACK"))


class Cursor(psycopg.Cursor):
    """A cursor whose statements carry the connection's `limits` (see the module's doc)."""

    limits: Limits

    def execute(self, query: Any, params: Any = None, *, prepare: bool | None = None,
                binary: bool | None = None) -> Cursor:
        conn = self.connection
        status = conn.info.transaction_status
        own = status == TransactionStatus.IDLE
        if not own and not (self.limits.pinned and status == TransactionStatus.INTRANS):
            return super().execute(query, params, prepare=prepare, binary=binary)  # a caller's own transaction
        try:
            # Pinned: a savepoint per statement, so that a failure undoes that statement only
            # (not a SET made before it) and the transaction goes on.
            _plain(conn, self.limits.begin if own else tagged(f"SAVEPOINT {_SAVEPOINT}"))
            super().execute(query, params, prepare=prepare, binary=binary)
        except BaseException:
            try:
                _after_failure(conn)
                if own:
                    _end(conn)
                elif not conn.broken:
                    _plain(conn, tagged(f"RELEASE SAVEPOINT {_SAVEPOINT}"))
            except psycopg.Error:
                pass  # the statement's own error is the one to tell
            raise
        if own:
            _end(conn)
        else:
            _plain(conn, tagged(f"RELEASE SAVEPOINT {_SAVEPOINT}"))
        return self


def guard(conn: psycopg.Connection, statement_timeout_ms: int, lock_timeout_ms: int) -> None:
    """From now on, every statement on `conn` carries these limits and leaves nothing behind."""
    conn.cursor_factory = type("PooledCursor", (Cursor,), {"limits": Limits(statement_timeout_ms, lock_timeout_ms)})


def guarded(conn: psycopg.Connection) -> Limits | None:
    return getattr(conn.cursor_factory, "limits", None)


@contextmanager
def pinned(conn: psycopg.Connection) -> Iterator[None]:
    """Statements on one server connection (one transaction) until the block ends; a no-op on
    a connection that is not guarded."""
    limits = guarded(conn)
    if limits is None or limits.pinned or conn.info.transaction_status != TransactionStatus.IDLE:
        yield
        return
    _plain(conn, limits.begin_pinned)
    limits.pinned = True
    try:
        yield
    finally:
        limits.pinned = False
        try:
            _end(conn)
        except psycopg.Error:
            pass
