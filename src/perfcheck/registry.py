"""Checks and how they are found: the `@check` decorator and the `perfcheck.checks` entry points.

A check is a pure function from gathered facts and its thresholds to an `Outcome`. Its
metadata (title, category, default thresholds, weight) comes from the checklist data,
or, for a third-party check that is not in the checklist, from the decorator.
Built-in checks are found through the same entry-point group a plugin uses.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import pkgutil
import types
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Callable, Mapping

from perfcheck import checklist, targets
from perfcheck.checklist import CheckMeta
from perfcheck.model import Finding, Status
from perfcheck.scoring import status_for

ENTRY_POINT_GROUP = "perfcheck.checks"
TARGETS = tuple(targets.BY_WORD)


@dataclass
class Outcome:
    """What a check concludes. Give a score (status follows from it) or an explicit status."""

    status: Status
    score: float | None
    summary: str
    metrics: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    @classmethod
    def scored(cls, score: float, summary: str, **kw: Any) -> Outcome:
        score = max(0.0, min(1.0, score))
        return cls(status_for(score), score, summary, **kw)

    @classmethod
    def passed(cls, summary: str, **kw: Any) -> Outcome:
        return cls(Status.PASS, 1.0, summary, **kw)

    @classmethod
    def skip(cls, reason: str, **kw: Any) -> Outcome:
        return cls(Status.SKIP, None, reason, **kw)

    @classmethod
    def error(cls, reason: str, **kw: Any) -> Outcome:
        return cls(Status.ERROR, None, reason, **kw)

    @classmethod
    def manual(cls, guidance: str, **kw: Any) -> Outcome:
        return cls(Status.MANUAL, None, guidance, **kw)


Judge = Callable[[Mapping[str, Any], Mapping[str, Any]], Outcome]


@dataclass(frozen=True)
class Check:
    meta: CheckMeta
    requires: tuple[str, ...]
    judge: Judge

    @property
    def id(self) -> str:
        return self.meta.id


def check(check_id: str, *, requires: tuple[str, ...] | list[str] = (), **meta: Any) -> Callable[[Judge], Check]:
    """Declare a check. `requires` names facts such as "postgres.indexes"; metadata
    given here fills what the checklist data does not have (for plugins)."""

    def wrap(judge: Judge) -> Check:
        known = checklist.meta(check_id)
        if known is None:
            missing = {"category", "target", "title"} - meta.keys()
            if missing:
                raise ValueError(f"check {check_id} is not in the checklist and lacks {sorted(missing)}")
            found = CheckMeta(id=check_id, **meta)
        else:
            found = replace(known, **meta) if meta else known
        if found.target not in TARGETS and found.target != targets.NO_TARGET:
            raise ValueError(f"check {check_id}: unknown target {found.target!r}")
        return Check(found, tuple(requires), judge)

    return wrap


@dataclass
class LoadedChecks:
    checks: dict[str, Check]
    problems: list[str]  # plugins that could not be loaded, one line each


def checks_in(module: types.ModuleType) -> list[Check]:
    """The checks a module defines; for a package, those of its modules too (one module per check)."""
    found = [value for value in vars(module).values() if isinstance(value, Check)]
    for info in pkgutil.iter_modules(getattr(module, "__path__", [])):
        found += checks_in(importlib.import_module(f"{module.__name__}.{info.name}"))
    return found


class DeferredCheck:
    """A built-in check whose module is imported only when its `requires` or `judge` is
    first read: an audit of one category imports that category's check modules alone
    (start-up time). Its metadata is the checklist's, as the decorator's is for a built-in."""

    def __init__(self, meta: CheckMeta):
        self.meta = meta

    @property
    def id(self) -> str:
        return self.meta.id

    @property
    def requires(self) -> tuple[str, ...]:
        return self.loaded.requires

    @property
    def judge(self) -> Judge:
        return self.loaded.judge

    @cached_property
    def loaded(self) -> Check:
        module = importlib.import_module(f"{BUILT_IN}.{self.meta.id}")
        found = next((c for c in vars(module).values() if isinstance(c, Check) and c.id == self.meta.id), None)
        if found is None:
            raise LookupError(f"{module.__name__} defines no check {self.meta.id}")
        return found


BUILT_IN = "perfcheck.checks"  # its packages hold one module per check, named after the id (db.x → db/x.py)


def _deferred(ep: importlib.metadata.EntryPoint) -> list[DeferredCheck] | None:
    """The checks of a built-in category package, without importing their modules; None
    when a module is not named after a checklist id (then they are imported as a plugin's)."""
    package, _, category = ep.value.rpartition(".")
    if package != BUILT_IN or ":" in ep.value:
        return None
    spec = importlib.util.find_spec(ep.value)
    names = [info.name for info in pkgutil.iter_modules(spec.submodule_search_locations or [])] if spec else []
    metas = [checklist.meta(f"{category}.{name}") for name in names]
    if not names or any(meta is None for meta in metas):
        return None
    return [DeferredCheck(meta) for meta in metas if meta is not None]


def load_checks() -> LoadedChecks:
    """Every check from every `perfcheck.checks` entry point; a broken plugin is reported, not fatal."""
    found: dict[str, Check] = {}
    problems: list[str] = []
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            deferred = _deferred(ep)
            obj = ep.load() if deferred is None else None
            items = deferred if deferred is not None else checks_in(obj) if isinstance(obj, types.ModuleType) \
                else list(obj() if callable(obj) and not isinstance(obj, Check) else [obj])
        except Exception as exc:  # a plugin's bug must not stop the audit
            problems.append(f"plugin {ep.name!r} ({ep.value}) could not be loaded: {type(exc).__name__}: {exc}")
            continue
        for item in items:
            if not isinstance(item, (Check, DeferredCheck)):
                problems.append(f"plugin {ep.name!r} gave {type(item).__name__}, not a check")
            elif item.id in found and found[item.id] is not item:
                problems.append(f"plugin {ep.name!r}: check id {item.id} is already registered; ignored")
            else:
                found[item.id] = item
    order = list(checklist.load()[1])
    ordered = dict(sorted(found.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else len(order), kv[0])))
    return LoadedChecks(ordered, problems)
