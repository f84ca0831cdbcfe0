"""The reusable GitHub Action (action.yml) and the CI example that uses it.

actionlint (with ShellCheck for the `run:` scripts) lints the example workflow as GitHub
would load it from a repository (so the action's inputs it passes are checked against
action.yml), and the action's own steps as a reusable workflow: actionlint lints workflows
only, and a composite action's steps and `inputs` context are the same there. Then the
action's scripts run here as a runner would run them (bash -eo pipefail, the runner's
files), against a real PostgreSQL: the job summary, the annotations, the outputs and the
gate are what a user sees on GitHub.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import perfcheck, unavailable

ROOT = Path(__file__).resolve().parents[1]
ACTION = ROOT / "action.yml"
EXAMPLE = ROOT / "examples" / "ci" / "github-actions.yml"


def _tool(name: str) -> str:
    # The test extra's wheels put them beside this Python; a system one does as well.
    for candidate in (Path(sys.executable).with_name(name), shutil.which(name)):
        if candidate and os.access(candidate, os.X_OK):
            return str(candidate)
    unavailable(f"{name} is not installed: pip install -e '.[test]'")


def _actionlint(project: Path, workflow: Path) -> subprocess.CompletedProcess:
    return subprocess.run([_tool("actionlint"), "-no-color", "-shellcheck", _tool("shellcheck"),
                           str(workflow.relative_to(project))],
                          cwd=project, capture_output=True, text=True, timeout=60)


def _project(tmp_path: Path, workflow_text: str) -> tuple[Path, Path]:
    """A repository as GitHub sees it: the action at its root, the workflow under .github/."""
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    shutil.copy(ACTION, tmp_path / "action.yml")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    workflow = tmp_path / ".github" / "workflows" / "perfcheck.yml"
    workflow.write_text(workflow_text)
    return tmp_path, workflow


def test_the_ci_example_passes_actionlint_with_the_actions_inputs(tmp_path):
    run = _actionlint(*_project(tmp_path, EXAMPLE.read_text()))
    assert run.returncode == 0, run.stdout + run.stderr


def test_actionlint_here_catches_a_misspelt_action_input(tmp_path):
    # So that the test above can fail: the linter does read action.yml's inputs.
    text = EXAMPLE.read_text().replace("fail-under:", "fail-undr:")
    run = _actionlint(*_project(tmp_path, text))
    assert run.returncode == 1 and 'input "fail-undr" is not defined' in run.stdout, run.stdout + run.stderr


def test_the_action_steps_pass_actionlint(tmp_path):
    action = yaml.safe_load(ACTION.read_text())
    assert action["runs"]["using"] == "composite"
    workflow = {
        "name": "perfcheck action steps",
        "on": {"workflow_call": {"inputs": {name: {"type": "string", "required": False, "default": spec.get("default", "")}
                                            for name, spec in action["inputs"].items()}}},
        "permissions": {"contents": "read", "security-events": "write"},
        "jobs": {"perfcheck": {"runs-on": "ubuntu-latest", "steps": action["runs"]["steps"]}},
    }
    run = _actionlint(*_project(tmp_path, yaml.safe_dump(workflow, sort_keys=False)))
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_action_has_the_documented_inputs_and_steps():
    action = yaml.safe_load(ACTION.read_text())
    assert {"db", "redis", "url", "baseline", "fail-under", "version"} <= action["inputs"].keys()
    steps = action["runs"]["steps"]
    uses = [step.get("uses", "") for step in steps]
    assert any(u.startswith("actions/setup-python@") for u in uses)
    assert any(u.startswith("github/codeql-action/upload-sarif@") for u in uses)
    audit = _step(steps, "Audit")["run"]
    assert "--format markdown --format sarif --format github" in audit and "--baseline" in audit
    assert "GITHUB_STEP_SUMMARY" in _step(steps, "Job summary")["run"]
    example = yaml.safe_load(EXAMPLE.read_text())
    used = [s for s in example["jobs"]["perfcheck"]["steps"] if s.get("uses") == "./"]
    assert used and used[0]["with"]["baseline"] == "perfcheck-baseline.json"


# --- the action's scripts, run as a runner runs them -------------------------------------------
def _step(steps: list[dict], name: str) -> dict:
    return next(step for step in steps if step.get("name") == name)


class Runner:
    """The files and variables a GitHub runner gives a step; perfcheck 'installed' in
    RUNNER_TEMP/perfcheck-venv as the action's install step leaves it (here: this checkout)."""

    def __init__(self, tmp_path: Path):
        self.work = tmp_path / "workspace"
        self.work.mkdir()
        self.temp = tmp_path / "runner-temp"
        venv_bin = self.temp / "perfcheck-venv" / "bin"
        venv_bin.mkdir(parents=True)
        shim = venv_bin / "perfcheck"
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m perfcheck "$@"\n')
        shim.chmod(0o755)
        self.output = tmp_path / "github_output"
        self.summary = tmp_path / "step_summary"
        self.output.touch()
        self.summary.touch()
        self.steps = yaml.safe_load(ACTION.read_text())["runs"]["steps"]

    def run(self, name: str, inputs: dict[str, str], outputs: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        step = _step(self.steps, name)
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "PERFCHECK_URL")}
        env.update(GITHUB_ACTIONS="true", RUNNER_TEMP=str(self.temp), GITHUB_OUTPUT=str(self.output),
                   GITHUB_STEP_SUMMARY=str(self.summary))
        for key, value in step.get("env", {}).items():
            env[key] = self._expand(value, inputs, outputs or {})
        return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd=self.work,
                              env=env, capture_output=True, text=True, timeout=120)

    @staticmethod
    def _expand(value: str, inputs: dict[str, str], outputs: dict[str, str]) -> str:
        """The one-expression `${{ inputs.x }}` / `${{ steps.audit.outputs.x }}` values the steps use."""
        expression = value.strip().removeprefix("${{").removesuffix("}}").strip()
        if expression.startswith("inputs."):
            return inputs.get(expression[len("inputs."):], "")
        if expression.startswith("steps.audit.outputs."):
            return outputs.get(expression[len("steps.audit.outputs."):], "")
        return value

    def outputs(self) -> dict[str, str]:
        return dict(line.split("=", 1) for line in self.output.read_text().splitlines() if "=" in line)


def _inputs(**given: str) -> dict[str, str]:
    action = yaml.safe_load(ACTION.read_text())
    return {**{name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}, **given}


def test_the_action_audits_summarises_annotates_and_gates(database, tmp_path):
    runner = Runner(tmp_path)
    seeded = perfcheck("audit", "--db", database.url, "--baseline", "perfcheck-baseline.json", "--update-baseline",
                       "--format", "json", "--output", "first.json", cwd=str(runner.work))
    assert seeded.code == 0, seeded.err

    audit = runner.run("Audit", _inputs(db=database.url))
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert runner.outputs()["exit-code"] == "0"
    # db.timeouts fails on a fresh database: its annotation is on the step's output.
    assert any(line.startswith("::error") and "db.timeouts" in line for line in audit.stdout.splitlines()), audit.stdout
    assert "no baseline" not in audit.stdout

    summary = runner.run("Job summary", _inputs())
    assert summary.returncode == 0, summary.stderr
    assert runner.summary.read_text().startswith("# perfcheck: ")
    assert (runner.work / "perfcheck-reports" / "perfcheck-report.sarif").is_file()  # what the upload step sends

    gate = runner.run("Gate", _inputs(), runner.outputs())
    assert gate.returncode == 0 and "perfcheck: passed" in gate.stdout


def test_the_action_fails_the_job_under_fail_under_after_writing_the_summary(database, tmp_path):
    runner = Runner(tmp_path)
    audit = runner.run("Audit", _inputs(db=database.url, **{"fail-under": "100"}))
    assert audit.returncode == 0, audit.stderr  # the gate comes last, after the summary and SARIF
    assert "::notice title=perfcheck::no baseline at perfcheck-baseline.json yet" in audit.stdout
    assert runner.outputs()["exit-code"] == "1"
    assert runner.run("Job summary", _inputs()).returncode == 0
    assert runner.summary.read_text().startswith("# perfcheck: ")
    gate = runner.run("Gate", _inputs(), runner.outputs())
    assert gate.returncode == 1
    assert "::error title=perfcheck::the audit failed a gate" in gate.stdout


@pytest.mark.parametrize("hostile", ["70; touch pwned", "$(touch pwned)", "`touch pwned`"])
def test_hostile_action_inputs_are_arguments_never_shell(database, tmp_path, hostile):
    """An input (e.g. from a PR title a workflow passes on) reaches perfcheck as one argument:
    a clear exit 2 in the job, nothing executed."""
    runner = Runner(tmp_path)
    audit = runner.run("Audit", _inputs(db=database.url, **{"fail-under": hostile}))
    assert audit.returncode == 0, audit.stderr
    assert runner.outputs()["exit-code"] == "2"
    assert "--fail-under" in audit.stderr and "Traceback" not in audit.stdout + audit.stderr
    assert not (runner.work / "pwned").exists() and not (tmp_path / "pwned").exists()
    gate = runner.run("Gate", _inputs(), runner.outputs())
    assert gate.returncode == 2 and "could not run (exit 2" in gate.stdout
    runner.run("Job summary", _inputs())
    assert "perfcheck wrote no report" in runner.summary.read_text()


def test_the_example_workflows_audit_step_runs_as_written(database, tmp_path):
    """The example's `with:` on the action, against a baseline made as its header says:
    the reports land where its artifact step looks, and the verdict agrees with the score."""
    example = yaml.safe_load(EXAMPLE.read_text())
    given = next(s for s in example["jobs"]["perfcheck"]["steps"] if s.get("uses") == "./")["with"]
    runner = Runner(tmp_path)
    seeded = perfcheck("audit", "--db", database.url, "--baseline", given["baseline"], "--update-baseline",
                       "--format", "json", "--output", "first.json", cwd=str(runner.work))
    assert seeded.code == 0, seeded.err
    score = json.loads((runner.work / "first.json").read_text())["score"]

    audit = runner.run("Audit", _inputs(db=database.url, **{k: str(v) for k, v in given.items()}))
    assert audit.returncode == 0, audit.stderr
    reports = runner.work / given["output-dir"]
    assert (reports / "perfcheck-report.md").read_text().startswith("# perfcheck: ")
    assert json.loads((reports / "perfcheck-report.sarif").read_text())["version"] == "2.1.0"
    assert runner.outputs()["exit-code"] == ("1" if score < float(given["fail-under"]) else "0"), (score, audit.stderr)
