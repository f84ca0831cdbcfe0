"""Layers that can't tangle: checks never import a driver, reporters never import
collectors (DESIGN.md principle 8). Read from the source, so a new module is covered."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "perfcheck"
DRIVERS = {"psycopg", "psycopg_pool", "redis", "httpx", "h2", "h11", "socket", "subprocess"}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            names.add(base)
            # `from .. import collectors` names the module in the alias, not the base.
            names |= {base.rstrip(".") + "." + alias.name for alias in node.names}
    return names


def _files(folder: str) -> list[Path]:
    return sorted((SRC / folder).glob("*.py"))


@pytest.mark.parametrize("path", _files("checks"), ids=lambda p: p.name)
def test_checks_import_no_driver_and_no_collector(path):
    for name in imported_modules(path):
        top = name.lstrip(".").split(".")[0]
        assert top not in DRIVERS, f"{path.name} imports {name}: checks are pure functions of facts"
        assert "collectors" not in name, f"{path.name} imports {name}: checks read facts, not collectors"


@pytest.mark.parametrize("path", _files("report"), ids=lambda p: p.name)
def test_reporters_read_only_the_report(path):
    for name in imported_modules(path):
        top = name.lstrip(".").split(".")[0]
        assert top not in DRIVERS, f"{path.name} imports {name}"
        assert "collectors" not in name and "runner" not in name, f"{path.name} imports {name}: views read only the Report"


def test_the_reader_sees_driver_imports():
    # The guard above must be able to fail: the PostgreSQL collector does import its driver.
    assert "psycopg" in imported_modules(SRC / "collectors" / "postgres" / "collector.py")
    assert "perfcheck.collectors.TargetError" in imported_modules(SRC / "runner.py")
