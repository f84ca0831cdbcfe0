"""Start-up stays light: the CLI module and `perfcheck --help` import neither the drivers
(psycopg, redis, httpx) nor rich's console nor yaml; the commands import what they use.
Nothing here is timed (benchmarks/startup.py times it)."""

from __future__ import annotations

import json
import subprocess
import sys

from helpers import perfcheck

HEAVY = ("psycopg", "redis", "httpx", "rich.console", "yaml", "perfcheck.config", "perfcheck.runner",
         "perfcheck.collectors")


def imported_after(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout.splitlines()[-1]))


def heavy(modules: set[str]) -> set[str]:
    return {m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)}


def test_importing_the_cli_loads_no_driver_rich_console_or_yaml():
    assert heavy(imported_after("import perfcheck.cli")) == set()


def test_help_loads_no_driver_rich_console_or_yaml():
    code = ("import sys\nsys.argv = ['perfcheck', '--help']\nfrom perfcheck.cli import app\n"
            "try:\n    app(standalone_mode=False)\nexcept SystemExit:\n    pass")
    assert heavy(imported_after(code)) == set()


def test_version_answers_without_typer_and_says_the_same_as_before():
    code = "import sys\nsys.argv = ['perfcheck', '--version']\nfrom perfcheck.__main__ import main\nmain()"
    modules = imported_after(code)
    assert "typer" not in modules and heavy(modules) == set()
    run = perfcheck("--version")
    assert run.code == 0 and run.out.strip().startswith("perfcheck ")


def test_the_commands_still_import_what_they_need():
    run = perfcheck("explain", "cache.big_keys")
    assert run.code == 0 and "How it is measured" in run.out
    run = perfcheck("audit", "--config", "/nonexistent/perfcheck.yaml")
    assert run.code == 2 and run.err.startswith("perfcheck: error:") and "Traceback" not in run.err


def test_loading_the_checks_does_not_import_pglast():
    # pglast is imported by the code that parses SQL, when it first parses, not by the registry
    modules = imported_after("from perfcheck.registry import load_checks\nload_checks()")
    assert not {m for m in modules if m == "pglast" or m.startswith("pglast.")}


def test_an_audit_of_one_category_imports_that_categorys_check_modules_alone():
    # the registry knows every check (ids, categories, thresholds) from the checklist data;
    # a check's module is imported when the audit reads its facts or judges it
    modules = imported_after("from perfcheck.registry import load_checks\nchecks = load_checks().checks\n"
                             "assert len(checks) > 40\n"
                             "[c.requires for c in checks.values() if c.meta.category == 'database']")
    loaded = {m.removeprefix("perfcheck.checks.") for m in modules if m.startswith("perfcheck.checks.")}
    assert "db.pool" in loaded and "db.fk_indexes" in loaded
    assert not {m for m in loaded if m.split(".")[0] in ("cache", "api", "cdn", "rt", "mon")}, sorted(loaded)
