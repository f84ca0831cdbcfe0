"""One slow catalog query on a read-only session of its own, run while the collector's
main session gathers the other facts, so the server works on both at once.

At 2,000 tables `postgres.columns` (pg_stats behind it) is about 40 % of the database
audit's server time; run beside the rest, it costs next to nothing in wall time
(benchmarks/audit_speed.py). The side session is set up exactly like the main one
(perfcheck.pg.session.connect: read-only, statement and lock timeouts), and if it cannot
be opened (a connection limit, a pooler's pool full) the query runs on the main session
afterwards, as it always did.
"""

from __future__ import annotations

import threading
from typing import Any

import psycopg

from perfcheck.errors import TargetError
from perfcheck.pg.session import Session, connect


class SideQuery:
    """`rows()` waits for the query's rows; `None` when the side session could not be
    opened, so the caller runs the query itself. A failed query raises its error there."""

    def __init__(self, url: str, options: dict[str, Any], package: str, name: str, params: dict[str, Any]):
        self.url, self.options, self.package, self.name, self.params = url, options, package, name, params
        self.conn: psycopg.Connection | None = None
        self.result: list[dict[str, Any]] | None = None
        self.error: BaseException | None = None
        self.lock = threading.Lock()
        self.closed = False
        self.thread = threading.Thread(target=self._run, name=f"perfcheck-{name}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            conn = connect(self.url, self.options)
        except TargetError:
            return  # no side session: the caller runs the query on the main one
        with self.lock:
            if self.closed:
                conn.close()
                return
            self.conn = conn
        try:
            self.result = Session(conn, self.package).rows(self.name, self.params)
        except BaseException as exc:  # handed to the caller of rows()
            self.error = exc
        finally:
            with self.lock:
                self.conn = None
            conn.close()

    def rows(self, timeout: float | None) -> list[dict[str, Any]] | None:
        self.thread.join(timeout)
        if self.thread.is_alive():
            self.close()
            raise TimeoutError(f"the {self.name} query did not finish within the time budget")
        if self.error is not None:
            raise self.error
        return self.result

    def close(self) -> None:
        """Cancel the query if it still runs (the audit is ending or out of time)."""
        with self.lock:
            self.closed = True
            conn = self.conn
        if conn is not None:
            try:
                conn.cancel_safe(timeout=2) if hasattr(conn, "cancel_safe") else conn.cancel()
            except psycopg.Error:
                pass
