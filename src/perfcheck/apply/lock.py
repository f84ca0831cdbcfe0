"""How apply-indexes touches a live database, for building and for dropping alike: one
direct session in autocommit with a `lock_timeout` on every lock wait, no statement
timeout, the advisory lock that keeps two runs apart, the sessions an operation would
queue behind (named with what they are doing), back-off between tries, a second session
that watches progress and blockers, and SIGTERM raised as Ctrl-C so that either cancels
the running statement in the server and the same clean-up runs."""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import psycopg

from perfcheck.pg.names import qualified, tagged
from perfcheck.pg.session import connect

# pg_try_advisory_lock key: 'perfchk' as a bigint, the same for every perfcheck (build and drop).
LOCK_KEY = 0x7065726663686B
APPLICATION_NAME = "perfcheck apply-indexes"
# Lock modes that conflict with the SHARE UPDATE EXCLUSIVE lock CREATE INDEX CONCURRENTLY takes.
CONFLICTING = ["ShareUpdateExclusiveLock", "ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"]
# DROP INDEX CONCURRENTLY waits for every transaction holding any lock on the table.
ANY_LOCK = ["AccessShareLock", "RowShareLock", "RowExclusiveLock", *CONFLICTING]

Events = Callable[[str], None]


@dataclass
class LockOptions:
    lock_timeout_s: float = 5.0  # the longest any one lock wait may last
    retries: int = 3  # further tries after a lock timeout or a blocking session, with back-off
    backoff_s: float = 1.0  # the first back-off, doubled each try (at most 30 s)
    wait_s: float = 60.0  # how long to wait for another apply-indexes to finish


@dataclass
class Blocker:
    pid: int
    description: str  # "idle in transaction for 12 s: LOCK TABLE …"

    def __str__(self) -> str:
        return f"pid {self.pid} ({self.description})"


class Terminated(KeyboardInterrupt):
    """SIGTERM (a deploy system stopping the job), raised where Ctrl-C raises KeyboardInterrupt,
    so that the same clean-up runs: psycopg cancels the statement in the server on either."""


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """A deploy system stops a job with SIGTERM: treated as Ctrl-C is (the statement cancelled
    in the server, its leftover dealt with, the lock released), instead of dying with the
    statement orphaned in the server."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread (e.g. tests calling run())
        return

    def handler(signum, frame):
        raise Terminated("SIGTERM")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Monitor(threading.Thread):
    """Reads the build's progress and who blocks it, from a session of its own."""

    def __init__(self, url: str, options: dict[str, Any], build_pid: int, events: Events):
        super().__init__(daemon=True, name="perfcheck-index-progress")
        self.conn = connect(url, options, application_name=APPLICATION_NAME)
        self.build_pid = build_pid
        self.events = events
        self.stopped = threading.Event()
        self.label = ""  # the index being built, "" when idle
        self.blockers: dict[int, Blocker] = {}
        self._last = ""
        self._last_at = 0.0

    def run(self) -> None:
        while not self.stopped.wait(0.5):
            if not self.label:
                continue
            try:
                row = self.conn.execute(tagged(
                    "SELECT p.phase, p.blocks_total, p.blocks_done, p.tuples_total, p.tuples_done, "
                    "p.current_locker_pid, pg_blocking_pids(%(pid)s) AS blocking "
                    "FROM (SELECT %(pid)s::int AS pid) x LEFT JOIN pg_stat_progress_create_index p ON p.pid = x.pid"),
                    {"pid": self.build_pid}).fetchone()
            except psycopg.Error:
                return  # progress is a nicety; the build goes on
            if row is None:
                continue
            pids = set(row["blocking"] or [])
            if row["current_locker_pid"]:
                pids.add(row["current_locker_pid"])
            if pids:
                self.blockers.update({b.pid: b for b in describe(self.conn, sorted(pids))})
            if row["phase"]:
                done = ""
                if row["blocks_total"]:
                    done = f" {100 * row['blocks_done'] / row['blocks_total']:.0f}%"
                elif row["tuples_total"]:
                    done = f" {100 * row['tuples_done'] / row['tuples_total']:.0f}%"
                waiting = f" (waiting for pid {', '.join(map(str, sorted(pids)))})" if pids else ""
                line = f"  {self.label}: {row['phase']}{done}{waiting}"
                now = time.monotonic()
                if line != self._last and (row["phase"] not in self._last or now - self._last_at >= 2):
                    self._last, self._last_at = line, now
                    self.events(line)

    def watch(self, label: str) -> None:
        self.label, self._last = label, ""
        self.blockers = {}

    def stop(self) -> None:
        self.stopped.set()
        if self.is_alive():
            self.join(2)
        try:
            self.conn.close()
        except psycopg.Error:
            pass


def describe(conn: psycopg.Connection, pids: list[int]) -> list[Blocker]:
    rows = conn.execute(tagged(
        "SELECT pid, state, application_name, EXTRACT(EPOCH FROM now() - xact_start)::int AS xact_s, "
        "EXTRACT(EPOCH FROM now() - state_change)::int AS state_s, "
        "left(regexp_replace(query, '\\s+', ' ', 'g'), 80) AS query FROM pg_stat_activity WHERE pid = ANY(%s)"),
        (pids,)).fetchall()
    out = []
    for row in rows:
        state = row["state"] or "running"
        if state.startswith("idle in transaction") and row["state_s"] is not None:
            # The usual culprit: a client that opened a transaction and went away. How long
            # it has sat idle is what its owner needs to find it.
            what = f"{state} for {row['state_s']} s"
            if row["xact_s"] is not None and row["xact_s"] != row["state_s"]:
                what += f" (transaction open for {row['xact_s']} s)"
        else:
            what = state
            if row["xact_s"] is not None:
                what += f" in a transaction open for {row['xact_s']} s"
        if row["application_name"]:
            what += f", application {row['application_name']!r}"
        if row["query"]:
            what += f": {row['query']}"
        out.append(Blocker(row["pid"], what))
    return out



class DirectSession:
    """The session that changes the database: autocommit, no statement timeout (a build
    takes what it takes), every lock wait bounded, watched by a Monitor."""

    def __init__(self, url: str, options: LockOptions, postgres_options: dict[str, Any], events: Events):
        self.url = url
        self.options = options
        self.events = events
        self.conn = connect(url, postgres_options, read_only=False, application_name=APPLICATION_NAME)
        self.run("SET statement_timeout = 0")
        self.set_lock_timeout(options.lock_timeout_s)
        self.pid = self.conn.info.backend_pid
        self.monitor = Monitor(url, postgres_options, self.pid, events)

    def set_lock_timeout(self, seconds: float) -> None:
        self.run(f"SET lock_timeout = '{max(1, int(seconds * 1000))}ms'")

    def run(self, text: str, params: Any = None) -> list[dict[str, Any]]:
        cur = self.conn.execute(tagged(text), params, prepare=False)
        return cur.fetchall() if cur.description else []

    # --- the advisory lock -----------------------------------------------------------
    def lock(self) -> int | None:
        """Take the lock; None when taken, else the pid of the apply-indexes holding it."""
        deadline = time.monotonic() + self.options.wait_s
        told = False
        while True:
            if self.run("SELECT pg_try_advisory_lock(%s) AS ok", (LOCK_KEY,))[0]["ok"]:
                return None
            holder = self.lock_holder()
            if time.monotonic() >= deadline:
                return holder or -1
            if not told:
                self.events(f"waiting up to {self.options.wait_s:g} s for another perfcheck apply-indexes "
                            f"(pid {holder}) to finish…")
                told = True
            time.sleep(0.5)

    def lock_holder(self) -> int | None:
        rows = self.run("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                        "AND classid = %s AND objid = %s AND objsubid = 1 AND database = "
                        "(SELECT oid FROM pg_database WHERE datname = current_database())",
                        (LOCK_KEY >> 32, LOCK_KEY & 0xFFFFFFFF))
        return rows[0]["pid"] if rows else None

    def unlock(self) -> None:
        try:
            self.run("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
        except psycopg.Error:
            pass  # a closed session has released it

    # --- who is in the way -----------------------------------------------------------
    def blockers(self, schema: str, table: str, modes: list[str] = CONFLICTING,
                 old_snapshots: bool = True) -> list[Blocker]:
        """Sessions the operation would queue behind: a lock in one of `modes` on the table or
        one of its partitions, or (`old_snapshots`: a concurrent build waits for them) a
        transaction older than the lock timeout."""
        rows = self.run(
            "SELECT DISTINCT a.pid FROM pg_stat_activity a LEFT JOIN pg_locks l ON l.pid = a.pid AND l.granted "
            # the table and, for a partitioned one, its partitions (a plain DROP INDEX locks them all);
            # pg_partition_tree has no row for a table that is neither partitioned nor a partition
            "AND (l.relation = to_regclass(%(table)s) OR l.relation IN "
            "(SELECT relid FROM pg_partition_tree(to_regclass(%(table)s)))) AND l.mode = ANY(%(modes)s) "
            "WHERE a.pid <> pg_backend_pid() AND a.datname = current_database() AND a.backend_type = 'client backend' "
            "AND (l.pid IS NOT NULL OR (%(old)s AND (a.backend_xmin IS NOT NULL OR a.backend_xid IS NOT NULL) "
            "AND a.xact_start < now() - make_interval(secs => %(age)s)))",
            {"table": qualified(schema, table), "modes": modes, "age": self.options.lock_timeout_s, "old": old_snapshots})
        pids = sorted(r["pid"] for r in rows if r["pid"] != self.monitor.conn.info.backend_pid)
        return describe(self.conn, pids) if pids else []

    def pause(self, attempt: int) -> None:
        """The back-off before try `attempt` (1, 2…): backoff_s doubled each time, at most 30 s."""
        pause = min(30.0, self.options.backoff_s * 2 ** (attempt - 1))
        self.events(f"  retrying in {pause:g} s ({attempt} of {self.options.retries})")
        time.sleep(pause)

    def close(self) -> None:
        self.monitor.stop()
        try:
            self.conn.close()
        except psycopg.Error:
            pass


@dataclass
class LockOutcome:
    """Why the lock was not taken: interrupted, or held by another run past the wait."""
    problem: str = ""
    holder: int | None = None
    interrupted: bool = False
    terminated: bool = False


_WORDS = {"build": ("built", "building indexes"), "drop": ("dropped", "dropping indexes")}


def take_lock(session: DirectSession, operation: str) -> LockOutcome | None:
    """The advisory lock that keeps two runs apart (a build and a drop too); None when taken.
    `operation`: "build" or "drop", for the messages."""
    what, doing = _WORDS[operation]
    try:
        holder = session.lock()
    except KeyboardInterrupt as exc:
        return LockOutcome(f"interrupted while waiting for the {operation} lock; nothing was {what}", None, True,
                           isinstance(exc, Terminated))
    if holder is None:
        return None
    who = f" (pid {holder})" if holder > 0 else ""
    return LockOutcome(f"another perfcheck apply-indexes{who} is {doing} in this database; "
                       f"waited {session.options.wait_s:g} s; nothing was {what}", holder if holder > 0 else None)
