"""`perfcheck apply-indexes --drop --yes`: drop the plan's indexes on a live database, one at
a time, with the discipline of building (lock.py): the advisory lock, a lock_timeout on
every lock wait, the sessions a drop would queue behind named and waited out with
back-off, and Ctrl-C/SIGTERM cancelling the running statement.

DROP INDEX CONCURRENTLY commits in steps: the index is first marked INVALID, then the
drop waits for every transaction holding a lock on the table. Cancelled or timed out in
that wait, it leaves the index INVALID (unused by queries, still maintained by writes):
so the drop starts only when nobody holds a lock on the table, and an index left INVALID
all the same is reported with the two ways out (finish the drop, or REINDEX it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import psycopg

from perfcheck import config
from perfcheck.apply.drop_plan import INDEX, DropItem, DropPlan, why_keep, restore_statement
from perfcheck.apply.lock import ANY_LOCK, DirectSession, Events, LockOptions, Terminated, take_lock
from perfcheck.pg.session import one_line


@dataclass
class DropOptions(LockOptions):
    allow_locking_drop: bool = False  # plain DROP INDEX (a lock) on a partitioned table's index


@dataclass
class DropOutcome:
    item: DropItem
    status: str = "not started"  # dropped | gone | skipped | failed | interrupted | not started
    message: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status in ("dropped", "gone")


@dataclass
class DropResult:
    outcomes: list[DropOutcome] = field(default_factory=list)
    interrupted: bool = False
    terminated: bool = False  # the interruption was SIGTERM, not Ctrl-C
    lock_holder: int | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes) and not self.interrupted and not self.problem


class Dropper(DirectSession):
    """The drop's session (lock.DirectSession) and what it does to one index."""

    def current(self, item: DropItem) -> dict[str, Any] | None:
        rows = self.run(INDEX, (item.schema, item.name))
        return rows[0] if rows else None

    def drop(self, item: DropItem, allow_locking: bool) -> tuple[str, str]:
        """Drop one index: (status, message). Raises KeyboardInterrupt and a broken
        connection's error to the caller."""
        found = self.current(item)
        if found is None:
            return "gone", "already gone"
        # Checked again at the moment of the drop: the catalog may have changed since the plan.
        keep = why_keep(found, self.run, allow_locking)
        if keep:
            return "skipped", f"kept: {keep}"
        if restore_statement(found) != item.restore:
            return "skipped", f"it changed since the plan (now {found['definition']}); left untouched"
        waits: list[str] = []
        started = time.monotonic()
        for attempt in range(self.options.retries + 1):
            if attempt:
                self.pause(attempt)
            in_the_way = self.blockers(item.schema, item.table, ANY_LOCK, old_snapshots=False)
            if in_the_way:
                waits.append(", ".join(map(str, in_the_way)))
                self.events(f"  {item.table} is in use by {waits[-1]}")
                continue
            failed = self._attempt(item, waits)
            if failed == "retry":
                continue
            if failed:
                return "failed", failed
            locking = " (a plain DROP INDEX: it locked the table while it ran)" if item.partitioned else ""
            return "dropped", f"in {time.monotonic() - started:.2f} s{locking}"
        return "skipped", (f"could not drop without waiting on other sessions ({self.options.retries + 1} tries over "
                           f"{time.monotonic() - started:.0f} s; blocked by {waits[-1]}); {self.state(item)}")

    def _attempt(self, item: DropItem, waits: list[str]) -> str:
        """One DROP INDEX: "" when it ran, "retry" after a lock timeout, else the failure."""
        self.monitor.watch(item.qualified)
        self.events(f"  {item.statement}")
        try:
            self.run(item.statement)
        except psycopg.errors.LockNotAvailable:
            blockers = list(self.monitor.blockers.values())
            waits.append(", ".join(map(str, blockers)) if blockers else "another session")
            self.events(f"  lock timeout ({self.options.lock_timeout_s:g} s) waiting for {waits[-1]}")
            return "retry"
        except psycopg.Error as exc:
            if self.conn.broken:
                raise
            return f"the drop failed: {one_line(exc)}; {self.state(item)}"
        finally:
            self.monitor.watch("")
        return ""

    def state(self, item: DropItem) -> str:
        """Where a drop that did not finish left the index, in words."""
        try:
            found = self.current(item)
        except psycopg.Error:
            return "its state could not be read again"
        if found is None:
            return "the index is gone"
        if not found["valid"]:
            return (f"{item.qualified} was left INVALID half way (queries no longer use it, writes still maintain "
                    f"it): run --drop --yes again to finish, or REINDEX INDEX CONCURRENTLY {item.qualified} to keep it")
        return "nothing was changed"


def drop(drop_plan: DropPlan, url: str, *, options: DropOptions | None = None,
         postgres_options: dict[str, Any] | None = None, events: Events = lambda line: None) -> DropResult:
    """Drop the plan's indexes. Raises TargetError when the database can't be reached."""
    options = options or DropOptions()
    pg_options = {**config.DEFAULTS["postgres"], **(postgres_options or {})}
    result = DropResult([DropOutcome(item) for item in drop_plan.drops])
    if not result.outcomes:
        return result
    dropper = Dropper(url, options, pg_options, events)
    try:
        refused = take_lock(dropper, "drop")
        if refused is not None:
            result.problem, result.lock_holder = refused.problem, refused.holder
            result.interrupted, result.terminated = refused.interrupted, refused.terminated
            return result
        dropper.monitor.start()
        _drop_all(dropper, result, options, events)
    finally:
        if not dropper.conn.broken:
            dropper.unlock()
        dropper.close()
    return result


def _drop_all(dropper: Dropper, result: DropResult, options: DropOptions, events: Events) -> None:
    """One index at a time; Ctrl-C, SIGTERM or a lost session stop the rest."""
    for outcome in result.outcomes:
        item = outcome.item
        events(f"dropping {item.qualified} on {item.table} ({item.source})…")
        started = time.monotonic()
        try:
            outcome.status, outcome.message = dropper.drop(item, options.allow_locking_drop)
        except KeyboardInterrupt as exc:
            result.interrupted, result.terminated = True, isinstance(exc, Terminated)
            outcome.status = "interrupted"
            try:
                where = dropper.state(item) if not dropper.conn.broken else "the session was lost"
            except KeyboardInterrupt:
                where = "interrupted again while reading its state"
            if where == "the index is gone":  # the cancel came after the drop had finished
                outcome.status, where = "dropped", "done before the interrupt arrived"
            outcome.message = f"{'SIGTERM' if result.terminated else 'Ctrl-C'}: {where}"
            return
        except psycopg.Error as exc:
            outcome.status = "failed"
            outcome.message = f"the session was lost ({one_line(exc)}); stopped here"
            return
        outcome.seconds = time.monotonic() - started
