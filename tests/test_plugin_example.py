"""The example plugin (examples/plugin) installed as a user would, found through the
`perfcheck.checks` entry point, listed, explained and run in a real audit."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import check, perfcheck

PLUGIN = Path(__file__).resolve().parents[1] / "examples" / "plugin"


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory):
    """PYTHONPATH with the plugin installed (a real `pip install`, its entry point included)."""
    work = tmp_path_factory.mktemp("plugin")
    source = shutil.copytree(PLUGIN, work / "source", ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    target = work / "site"
    # No build isolation: setuptools from the test extra builds it without reaching an index.
    # Built from a copy, so that the build leaves nothing in the repository.
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(source)], check=True, capture_output=True, text=True)
    assert list(target.glob("perfcheck_example_plugin-*.dist-info/entry_points.txt"))
    shutil.rmtree(source / "src")  # the tests below must import the installed copy
    return {"PYTHONPATH": str(target), "PLUGIN_SOURCE": str(source)}


def test_listed_and_explained_only_when_installed(plugin_env):
    listed = perfcheck("checks", env=plugin_env)
    assert listed.code == 0 and "example.wide_tables" in listed.out and "max_columns=30" in listed.out
    assert "example.wide_tables" not in perfcheck("checks").out

    explained = perfcheck("explain", "example.wide_tables", env=plugin_env)
    assert explained.code == 0 and "Tables stay narrow" in explained.out and "side table" in explained.out


def test_runs_in_an_audit_with_thresholds_from_the_config(plugin_env, database, tmp_path):
    columns = ", ".join(f"c{i} int" for i in range(40))
    database.execute(f"CREATE TABLE wide_events (id bigint PRIMARY KEY, {columns})")
    database.execute("CREATE TABLE narrow (id bigint PRIMARY KEY, name text)")

    run = perfcheck("audit", "--db", database.url, "--only", "example.wide_tables", "--format", "json", env=plugin_env)
    assert run.code == 0, run.err
    result = check(run.json, "example.wide_tables")
    assert result["status"] == "warn" and result["category"] == "database"
    assert [f["object"] for f in result["findings"]] == ["public.wide_events"]
    assert result["findings"][0]["evidence"]["columns"] == 41

    config = tmp_path / "perfcheck.yaml"
    config.write_text("checks:\n  example.wide_tables:\n    thresholds: {max_columns: 50}\n")
    relaxed = perfcheck("audit", "--config", str(config), "--db", database.url, "--only", "example.wide_tables",
                        "--format", "json", env=plugin_env)
    assert check(relaxed.json, "example.wide_tables")["status"] == "pass"


def test_the_plugins_own_tests_pass_against_the_installed_copy(plugin_env):
    source = Path(plugin_env["PLUGIN_SOURCE"])
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(source / "tests")],
                         capture_output=True, text=True, env={**os.environ, **plugin_env}, cwd=str(source))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "4 passed" in run.stdout
