"""Collectors: all I/O with a target happens here, once per fact, shared by every check.

A collector gathers the facts that the selected checks require. A fact it cannot gather
(an extension missing, a permission denied) becomes `Unavailable` with the reason, and
the checks that need it become `skip` or `error` while the rest of the audit goes on.
A target that cannot be reached at all raises `TargetError` (one line, no secrets).
"""

from __future__ import annotations

import importlib
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from perfcheck.errors import TargetError  # noqa: F401  (raised by every collector; defined in a leaf module)
from perfcheck import targets
from perfcheck.model import Status



class FactUnavailable(Exception):
    """Raised by a fact provider: the fact can't be had here, for a reason the user should read."""

    def __init__(self, reason: str, status: Status = Status.SKIP):
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class Unavailable:
    reason: str
    status: Status = Status.ERROR


class QuietPhase:
    """perfcheck's own timing samples (Redis round trips, the time to open a PostgreSQL
    connection) are taken before its HTTP load starts: the collectors run at once on one
    machine, and a latency run crowding its CPU made healthy targets' timings warn. A collector
    with timing facts announces them as its gathering starts (before it connects) and is done
    once they are measured; the HTTP collector starts after that, waiting at most a few seconds
    (its load would crowd the CPU, its probes the GIL of this process)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._pending: list[float] = []  # when each pending sample was announced

    def expect(self) -> float:
        token = time.monotonic()
        with self._cond:
            self._pending.append(token)
        return token

    def done(self, token: float) -> None:
        with self._cond:
            if token in self._pending:
                self._pending.remove(token)
            self._cond.notify_all()

    def wait(self, timeout_s: float) -> bool:
        """True once no timing sample is pending; False if `timeout_s` passed first. A sample
        announced QUIET_WAIT_S or more ago is not waited for (one stuck in an earlier audit of
        this process, left behind at its deadline, must not slow every later one)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                now = time.monotonic()
                live = [t for t in self._pending if now - t < QUIET_WAIT_S]
                if not live:
                    return True
                if now >= deadline:
                    return False
                self._cond.wait(min(deadline, max(live) + QUIET_WAIT_S) - now)


QUIET_WAIT_S = 5.0
QUIET = QuietPhase()  # one per process: audits side by side only ever wait the timeout


def collector_class(target: str) -> type:
    """The collector of a target ("postgres"), imported only when that target is audited
    (checks never import drivers)."""
    module, _, name = targets.BY_WORD[target].collector.partition(":")
    return getattr(importlib.import_module(module), name)


class Collector:
    """Base: subclasses map fact names to provider methods in `providers` and
    implement `open()`/`close()`. `fact(name)` gathers a fact at most once."""

    target = ""
    providers: dict[str, str] = {}
    # Facts that time the target: gathered first, before perfcheck's HTTP traffic (QuietPhase).
    timing_facts: tuple[str, ...] = ()
    # True for a collector whose traffic would crowd those samples: it starts once they are taken.
    waits_for_timing = False

    def __init__(self, url: str, options: dict[str, Any], secrets: list[str]):
        self.url = url
        self.options = options
        self.secrets = secrets
        self.facts: dict[str, Any] = {}
        # The selected checks' thresholds by check id, for facts that depend on them (the index advisor).
        self.thresholds: dict[str, dict[str, Any]] = {}
        # Progress inside a long fact, (fact, done, total); the runner connects it to the display.
        self.progress: Callable[[str, int, int], None] = lambda fact, done, total: None
        # time.monotonic() past which no new work starts (the audit's max_seconds); None: no limit.
        self.deadline: float | None = None

    def remaining(self) -> float | None:
        """Seconds left before the deadline (0 when past it), or None without one."""
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())

    def open(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def describe_error(self, exc: Exception) -> str:
        return f"{type(exc).__name__}: {exc}"

    def fact(self, name: str) -> Any:
        """The fact's value; raises FactUnavailable if it could not be gathered."""
        if name not in self.facts:
            provider: Callable[[], Any] = getattr(self, self.providers[name])
            try:
                self.facts[name] = provider()
            except FactUnavailable as exc:
                self.facts[name] = Unavailable(exc.reason, exc.status)
            except TargetError:
                raise
            except Exception as exc:  # a failed query must not sink the other facts
                self.facts[name] = Unavailable(self.describe_error(exc), Status.ERROR)
        value = self.facts[name]
        if isinstance(value, Unavailable):
            raise FactUnavailable(value.reason, value.status)
        return value

    def order(self, names: set[str]) -> list[str]:
        """The order facts are gathered in; a collector whose probes disturb the target
        (an opt-in burst) overrides this to run those last."""
        return sorted(names)

    def gather(self, needed: set[str], step: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
        unknown = needed - self.providers.keys()
        for name in unknown:
            self.facts[name] = Unavailable(f"no collector provides the fact {name!r}", Status.ERROR)
        timed = [name for name in self.timing_facts if name in needed]
        token = QUIET.expect() if timed else 0.0
        if self.waits_for_timing:
            left = self.remaining()
            QUIET.wait(QUIET_WAIT_S if left is None else min(QUIET_WAIT_S, left / 4))
        ordered = self.order(needed - unknown)
        try:
            self.open()
        except BaseException:
            if timed:
                QUIET.done(token)
            raise
        try:
            for name in [n for n in ordered if n in timed] + [n for n in ordered if n not in timed]:
                if timed and name not in timed:
                    QUIET.done(token)  # the timing samples are taken: the HTTP requests may start
                    timed = []
                if self.remaining() == 0:
                    # Out of time: don't start what can't finish; the runner reports the rest.
                    self.facts.setdefault(name, Unavailable("not gathered: the time budget (max_seconds) ran out",
                                                            Status.ERROR))
                    continue
                step(name)
                try:
                    self.fact(name)
                except FactUnavailable:
                    pass
        finally:
            if timed:
                QUIET.done(token)
            self.close()
        return {name: self.facts[name] for name in needed}
