"""The report contract documented and checkable: the JSON Schemas shipped in the package
(the report's, perfcheck.yaml's), docs/report.md and the generated docs/checks.md, and
`perfcheck report`, which renders a saved report again (with its hostile inputs)."""

from __future__ import annotations

import json
from datetime import date
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml
from helpers import perfcheck, report_validator
from hostile import assert_clean, run_bounded
from report_fixture import sample_report

from perfcheck import checklist, docs
from perfcheck.report import FORMATS, render

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = ROOT / "tests" / "snapshots" / "report.json"


def _schema(name: str) -> dict:
    return json.loads((resources.files("perfcheck") / "schemas" / name).read_text())


def _errors(validator, data) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(data)]


# --- the report schema -------------------------------------------------------------------------

def test_the_report_schema_is_a_valid_schema_and_the_snapshot_follows_it():
    jsonschema.Draft7Validator.check_schema(_schema("perfcheck.report.schema.json"))
    assert _errors(report_validator(), json.loads(SNAPSHOT.read_text())) == []


@pytest.mark.parametrize("with_baseline", [True, False])
def test_every_formats_source_report_follows_the_schema(with_baseline):
    # The report every snapshot is rendered from, with and without a baseline and gate.
    data = json.loads(render(sample_report(with_baseline=with_baseline), "json"))
    assert _errors(report_validator(), data) == []


@pytest.mark.parametrize("breakage", ["no checks", "bad status", "score over 100", "finding without object",
                                      "bad applicability", "check score over 1", "gate without passed"])
def test_the_report_schema_rejects_a_broken_report(breakage):
    data = json.loads(SNAPSHOT.read_text())
    check = data["checks"][0]
    {"no checks": lambda: data.pop("checks"),
     "bad status": lambda: check.update(status="ok"),
     "score over 100": lambda: data.update(score=140),
     "finding without object": lambda: check["findings"][0].pop("object"),
     "bad applicability": lambda: check["findings"][0].update(fix_applicability="maybe"),
     "check score over 1": lambda: check.update(score=45),
     "gate without passed": lambda: data["gate"].pop("passed")}[breakage]()
    assert _errors(report_validator(), data)


def _fields(value, prefix=""):
    """Every field path in a report, lists collapsed (checks[].findings[].key)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield f"{prefix}{key}"
            yield from _fields(inner, f"{prefix}{key}.")
    elif isinstance(value, list):
        for item in value:
            yield from _fields(item, prefix.rstrip(".") + "[].")


def _schema_fields(schema: dict, node: dict, prefix: str = ""):
    node = schema["definitions"][node["$ref"].split("/")[-1]] if "$ref" in node else node
    if node.get("type") == "array" or "items" in node:
        yield from _schema_fields(schema, node.get("items", {}), prefix.rstrip(".") + "[].")
    for key, inner in (node.get("properties") or {}).items():
        yield f"{prefix}{key}"
        yield from _schema_fields(schema, inner, f"{prefix}{key}.")


def test_every_field_perfcheck_writes_is_in_the_schema_and_the_docs():
    """A field added to the report without documenting it fails here."""
    schema = _schema("perfcheck.report.schema.json")
    documented = set(_schema_fields(schema, schema))
    page = (ROOT / "docs" / "report.md").read_text()
    free = ("metrics.", "evidence.", "before", "after", "targets.")  # check-specific content, not the contract
    written = {f for f in _fields(json.loads(render(sample_report(), "json")))
               if not any(part in f for part in free) or f.endswith(("metrics", "evidence", "targets"))}
    written |= {"checks[].findings[].muted"}
    assert written - documented == set(), "fields written but not in the schema"
    for field in written:
        assert f"`{field.split('.')[-1].removesuffix('[]')}`" in page, f"{field} is not in docs/report.md"


def test_the_schema_and_the_docs_agree_on_the_status_values():
    schema = _schema("perfcheck.report.schema.json")
    statuses = schema["definitions"]["check"]["properties"]["status"]["enum"]
    from perfcheck.model import Status

    assert statuses == [s.value for s in Status]
    page = (ROOT / "docs" / "report.md").read_text()
    for status in statuses:
        assert f"| `{status}` |" in page


# --- the perfcheck.yaml schema ------------------------------------------------------------------

def _yaml_as_json(path: Path):
    # As an editor's YAML language server sees the file: dates are plain strings in JSON.
    return json.loads(json.dumps(yaml.safe_load(path.read_text()), default=lambda v: v.isoformat() if isinstance(v, date) else str(v)))


@pytest.mark.parametrize("path", [ROOT / "src" / "perfcheck" / "templates" / "perfcheck.yaml", ROOT / "examples" / "perfcheck.yaml"],
                         ids=["template", "example"])
def test_the_shipped_config_files_follow_the_config_schema(path):
    schema = _schema("perfcheck.config.schema.json")
    jsonschema.Draft7Validator.check_schema(schema)
    assert _errors(jsonschema.Draft7Validator(schema), _yaml_as_json(path)) == []


@pytest.mark.parametrize("text", ["postgres: {statment_timeout_ms: 100}\n", "http: {max_requests: many}\n",
                                  "mute: [{key: x, reason: 3}]\n", "colour: blue\n", "redis: {memory_samples: 0}\n", "checks: {db.timeouts: {weight: heavy}}\n"])
def test_the_config_schema_rejects_what_perfcheck_rejects(tmp_path, text):
    schema = _schema("perfcheck.config.schema.json")
    assert _errors(jsonschema.Draft7Validator(schema), yaml.safe_load(text))
    config_file = tmp_path / "perfcheck.yaml"
    config_file.write_text(text)
    from perfcheck import config
    with pytest.raises(config.ConfigError):
        config.load(str(config_file), environ={})


# --- generated docs ----------------------------------------------------------------------------

def test_generated_docs_and_schema_are_fresh():
    assert docs.main(["--check"]) == 0, "run `python -m perfcheck.docs` and commit the result"


def test_a_stale_checks_page_or_config_schema_is_detected_and_rewritten(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(f"{docs.START}\n{docs.END}\n")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "checks.md").write_text("# The checks\n\nold\n")
    args = ["--readme", str(readme), "--docs-dir", str(tmp_path / "docs"), "--schemas-dir", str(tmp_path / "schemas")]
    assert docs.main(["--check", *args]) == 1
    assert "checks.md" in capsys.readouterr().err
    assert docs.main(args) == 0 and docs.main(["--check", *args]) == 0
    page = (tmp_path / "docs" / "checks.md").read_text()
    for check_id, meta in checklist.load()[1].items():
        assert f'<a id="{check_id.replace(".", "-")}"></a>' in page and f"### `{check_id}`" in page
        assert " ".join(meta.why.split()) in page
    assert json.loads((tmp_path / "schemas" / "perfcheck.config.schema.json").read_text()) == docs.config_schema()


def test_docs_link_the_schemas_that_ship_in_the_package():
    page = (ROOT / "docs" / "report.md").read_text()
    for name in ("perfcheck.report.schema.json", "perfcheck.config.schema.json"):
        assert f"(../src/perfcheck/schemas/{name})" in page
        assert (ROOT / "src" / "perfcheck" / "schemas" / name).is_file()


# --- perfcheck report ------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_report_renders_a_saved_report_like_the_audit_did(fmt, tmp_path):
    saved = tmp_path / "saved.json"
    saved.write_text(render(sample_report(), "json"))
    out = tmp_path / f"out.{fmt}"
    run = perfcheck("report", str(saved), "--format", fmt, "--output", str(out))
    assert run.code == 0 and run.out == "", run.err
    assert run.err.strip() == f"report written to {out}"
    from perfcheck.gate.baseline import read_report

    assert out.read_text() == render(read_report(saved), fmt)


def test_report_prints_to_stdout_and_points_findings_at_the_given_config(tmp_path):
    saved = tmp_path / "saved.json"
    saved.write_text(render(sample_report(), "json"))
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "perfcheck.yaml").write_text("only: [database]\n")
    run = perfcheck("report", str(saved), "-f", "gitlab", "--config", "ci/perfcheck.yaml", cwd=str(tmp_path))
    assert run.code == 0, run.err
    assert {i["location"]["path"] for i in json.loads(run.out)} == {"ci/perfcheck.yaml"}
    json_again = perfcheck("report", str(saved), "-f", "json")
    assert json_again.json == json.loads(saved.read_text())  # validated against the schema too


HOSTILE_FILES = {
    "missing": None,
    "directory": "DIR",
    "not json": "password=hunter2 is not json\n",
    "binary": b"\xff\xfe\x00hunter2\x00\x89PNG",
    "a json list": "[1, 2, 3]\n",
    "a sarif file": json.dumps({"version": "2.1.0", "runs": [], "hunter2": 1}),
    "another schema version": json.dumps({"schema": "perfcheck.report/2", "checks": []}),
    "a check without a category": json.dumps({"schema": "perfcheck.report/1", "checks": [{"id": "db.x", "status": "pass"}]}),
    "a bad status": json.dumps({"schema": "perfcheck.report/1", "checks": [
        {"id": "db.x", "category": "database", "target": "postgres", "status": "hunter2"}]}),
    "wrong types": json.dumps({"schema": "perfcheck.report/1", "score": "high", "checks": [
        {"id": "db.x", "category": "database", "target": "postgres", "status": "fail", "score": "low",
         "findings": [{"severity": "fail", "object": "t", "message": "m"}]}]}),
    "deeply nested": "[" * 100_000 + "]" * 100_000,
}


@pytest.mark.parametrize("case", sorted(HOSTILE_FILES))
def test_report_refuses_a_bad_or_foreign_file_in_one_line(case, tmp_path):
    content = HOSTILE_FILES[case]
    path = tmp_path / "report.json"
    if content == "DIR":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    # The file's content is never echoed, except a bad field's value that the error names.
    secrets = () if case == "a bad status" else ("hunter2",)
    for fmt in ("html", "terminal"):
        run, _ = run_bounded("report", str(path), "--format", fmt, seconds=30)
        assert_clean(run, code=2, secrets=secrets)
        assert run.err.startswith(f"perfcheck: error: {path}") and run.out == "", run.err


def test_report_refuses_an_unwritable_output_in_one_line(tmp_path):
    saved = tmp_path / "saved.json"
    saved.write_text(render(sample_report(), "json"))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    run, _ = run_bounded("report", str(saved), "--format", "html", "--output", str(blocker / "out.html"), seconds=30)
    assert_clean(run, code=2)
    assert not (blocker / "out.html").exists()


def test_report_refuses_an_unknown_format_in_one_line(tmp_path):
    saved = tmp_path / "saved.json"
    saved.write_text(render(sample_report(), "json"))
    run, _ = run_bounded("report", str(saved), "--format", "pdf", seconds=30)
    # The argument parser's usage message is several lines on every command (its one-line form
    # is another change's); what matters here: exit 2, no traceback, the formats named.
    assert_clean(run, code=2, one_line=False)
    assert "'pdf' is not one of" in run.err and "'gitlab'" in run.err


def test_audit_points_gitlab_and_sarif_findings_at_the_config_it_read(database, tmp_path):
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "perfcheck.yaml").write_text("only: [db.timeouts]\n")
    out = tmp_path / "reports"
    run = perfcheck("audit", "--db", database.url, "--config", "ci/perfcheck.yaml", "--format", "gitlab",
                    "--format", "sarif", "--format", "json", "--output-dir", str(out), cwd=str(tmp_path))
    assert run.code == 0, run.err
    issues = json.loads((out / "perfcheck-report.gitlab.json").read_text())
    assert issues and {i["location"]["path"] for i in issues} == {"ci/perfcheck.yaml"}  # timeouts are off by default
    sarif = json.loads((out / "perfcheck-report.sarif").read_text())["runs"][0]
    assert {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in sarif["results"]} == {"ci/perfcheck.yaml"}
    from helpers import assert_report

    assert_report(json.loads((out / "perfcheck-report.json").read_text()))


def test_the_gitlab_ci_example_collects_the_files_perfcheck_writes():
    from perfcheck.report import EXTENSIONS

    job = yaml.safe_load((ROOT / "examples" / "ci" / "gitlab-ci.yml").read_text())["perfcheck"]
    audit = next(line for line in job["script"] if line.startswith("perfcheck audit"))
    assert "--format gitlab" in audit and "--format junit" in audit and "--output-dir reports" in audit
    reports = job["artifacts"]["reports"]
    assert reports["codequality"] == f"reports/perfcheck-report.{EXTENSIONS['gitlab']}"
    assert reports["junit"] == f"reports/perfcheck-report.{EXTENSIONS['junit']}"
    assert job["artifacts"]["when"] == "always"  # kept when the gate fails the job
