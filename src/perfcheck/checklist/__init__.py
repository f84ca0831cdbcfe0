"""The checklist as data: check metadata and default thresholds, one YAML file per
category beside this module (the single source, shipped in the wheel as it is)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from perfcheck import targets


@dataclass(frozen=True)
class CheckMeta:
    id: str
    category: str
    target: str
    title: str
    failure_title: str = ""
    weight: float = 1.0
    thresholds: dict[str, Any] = field(default_factory=dict)
    why: str = ""
    measured: str = ""
    how_to_fix: str = ""
    fixable: bool = False
    manual: bool = False


@dataclass(frozen=True)
class Category:
    id: str
    title: str
    weight: float = 1.0


def _checklist_dir() -> Path:
    return Path(str(resources.files("perfcheck.checklist")))


@cache
def load() -> tuple[dict[str, Category], dict[str, CheckMeta]]:
    folder = _checklist_dir()
    categories: dict[str, Category] = {}
    metas: dict[str, CheckMeta] = {}
    for path in sorted(folder.glob("*.yaml")):
        # libyaml's loader when present: the checklist is read on every run.
        data = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
        cat = data["category"]
        categories[cat["id"]] = Category(cat["id"], cat["title"], float(cat.get("weight", 1.0)))
        for item in data.get("checks") or []:
            meta = CheckMeta(category=cat["id"], **item)
            metas[meta.id] = meta
    return categories, metas


def categories() -> list[Category]:
    order = [c.id for c in targets.CATEGORIES]
    cats = load()[0]
    return sorted(cats.values(), key=lambda c: order.index(c.id) if c.id in order else len(order))


def meta(check_id: str) -> CheckMeta | None:
    return load()[1].get(check_id)
