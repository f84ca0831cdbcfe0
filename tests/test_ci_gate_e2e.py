"""CI gating end to end, as a CI job runs it against a real database: audit and save a
baseline, audit the unchanged system again (exit 0), plant regressions (drop the index a
foreign key needs; turn statement_timeout off) and see exit 1 with the regression named
in every format, then accept it with --update-baseline."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from helpers import assert_report, perfcheck

from perfcheck.report import EXTENSIONS, FORMATS


@pytest.fixture
def app_database(database):
    """A small app schema in good shape: timeouts set, every foreign key indexed."""
    database.execute(f"ALTER DATABASE {database.name} SET statement_timeout = '30s'")
    database.execute(f"ALTER DATABASE {database.name} SET idle_in_transaction_session_timeout = '60s'")
    database.execute(f"ALTER DATABASE {database.name} SET lock_timeout = '10s'")
    database.execute("CREATE TABLE artists (id bigint PRIMARY KEY, name text NOT NULL)")
    database.execute("CREATE TABLE songs (id bigint PRIMARY KEY, artist_id bigint NOT NULL REFERENCES artists (id), title text)")
    database.execute("INSERT INTO artists SELECT i, 'artist ' || i FROM generate_series(1, 100) i")
    database.execute("INSERT INTO songs SELECT i, i % 100 + 1, 'song ' || i FROM generate_series(1, 5000) i")
    database.execute("CREATE INDEX songs_artist_id_idx ON songs (artist_id)")
    database.execute("ANALYZE")
    return database


def audit(db, tmp_path, *args, env=None):
    return perfcheck("audit", "--db", db.url, "--only", "database", "--baseline", str(tmp_path / "baseline.json"),
                     *args, cwd=str(tmp_path), env=env)


def test_unchanged_system_passes_then_a_dropped_index_fails_in_every_format(app_database, tmp_path):
    first = audit(app_database, tmp_path, "--update-baseline", "--format", "json")
    assert first.code == 0, first.err
    baseline = json.loads((tmp_path / "baseline.json").read_text())
    assert baseline["schema"] == "perfcheck.report/1" and "baseline" not in baseline and "gate" not in baseline
    assert {c["id"]: c["status"] for c in baseline["checks"]}["db.fk_indexes"] == "pass"

    again = audit(app_database, tmp_path)
    assert again.code == 0, again.out + again.err
    assert "no regressions against the baseline" in again.out and "gate failed" not in again.err

    app_database.execute("DROP INDEX songs_artist_id_idx")
    reports = tmp_path / "reports"
    files = {fmt: reports / f"perfcheck-report.{EXTENSIONS[fmt]}" for fmt in FORMATS if fmt != "github"}
    formats = [arg for fmt in files for arg in ("--format", fmt)]
    bad = audit(app_database, tmp_path, *formats, "--output-dir", str(reports), env={"GITHUB_ACTIONS": "true"})
    assert bad.code == 1, bad.out + bad.err
    gate_line = next(line for line in bad.err.splitlines() if "gate failed" in line)
    assert "regression(s) against the baseline: db.fk_indexes pass → " in gate_line
    assert "new finding db.fk_indexes:public.songs" in gate_line
    # the job log gets an annotation (stdout is free: every format went to a file)
    assert "::error title=perfcheck regression%3A db.fk_indexes::new finding in db.fk_indexes: public.songs" in bad.out

    assert sorted(p.name for p in reports.iterdir()) == sorted(p.name for p in files.values())
    for fmt, path in files.items():
        text = path.read_text().replace("\\", "")  # Markdown escapes
        assert "db.fk_indexes" in text and "public.songs" in text, fmt
    report = assert_report(json.loads(files["json"].read_text()))
    assert report["baseline"]["regressed"] is True and report["gate"]["passed"] is False
    changes = [(c["kind"], c["check"], c["object"]) for c in report["baseline"]["regressions"]]
    assert changes[:2] == [("status", "db.fk_indexes", ""), ("finding", "db.fk_indexes", "public.songs")]
    assert all(kind == "score" for kind, _, _ in changes[2:])  # the category and overall may fall with it
    assert "## Regressions" in files["markdown"].read_text()
    sarif = json.loads(files["sarif"].read_text())
    new = [r for r in sarif["runs"][0]["results"] if r.get("baselineState") == "new"]
    assert [r["partialFingerprints"]["perfcheckFindingKey/v1"] for r in new] == ["db.fk_indexes:public.songs"]
    junit = ET.fromstring(files["junit"].read_bytes())
    regressions = [case.get("name") for case in junit.iter("testcase") if case.find("failure") is not None
                   and case.get("classname") == "perfcheck.baseline"]
    assert regressions[:2] == ["regression: db.fk_indexes", "regression: db.fk_indexes:public.songs"]
    assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS" in files["html"].read_text()
    annotations = audit(app_database, tmp_path, "--format", "github")  # the same lines, asked for by name
    assert annotations.code == 1
    assert annotations.out.splitlines()[0] == next(line for line in bad.out.splitlines() if line.startswith("::error"))

    # accepting it: the baseline is rewritten and the next run is green again
    accepted = audit(app_database, tmp_path, "--update-baseline", "--format", "json")
    assert accepted.code == 0 and "accepted by --update-baseline" in accepted.err
    assert audit(app_database, tmp_path).code == 0


def test_a_timeout_turned_off_is_a_regression_and_a_mute_accepts_it(app_database, tmp_path):
    assert audit(app_database, tmp_path, "--update-baseline", "--format", "json").code == 0
    app_database.execute(f"ALTER DATABASE {app_database.name} SET statement_timeout = 0")
    bad = audit(app_database, tmp_path, "--format", "markdown")
    assert bad.code == 1
    assert "db.timeouts got worse: pass → warn" in bad.out.replace("\\", "")
    assert "new finding in db.timeouts: statement\\_timeout" in bad.out

    (tmp_path / "perfcheck.yaml").write_text(
        "mute:\n  - key: db.timeouts:statement_timeout\n    reason: the pooler sets it per transaction\n")
    muted = audit(app_database, tmp_path, "--format", "markdown")
    assert muted.code == 0, muted.err
    assert "muted: the pooler sets it per transaction" in muted.out
    # an assertion in the same file fails the gate by itself, with its own reason
    (tmp_path / "perfcheck.yaml").write_text("assertions:\n  db.timeouts: {min_score: 0.9}\n")
    asserted = perfcheck("audit", "--db", app_database.url, "--only", "database", "--format", "json", cwd=str(tmp_path))
    assert asserted.code == 1 and "gate failed: db.timeouts score" in asserted.err


def test_a_statement_creeping_over_the_query_target_is_noise_and_a_new_slow_one_fails(database, tmp_path):
    def run(sql: str, seconds: float, times: int) -> None:
        with database.connect() as conn:  # psycopg sends the parameter: one pg_stat_statements entry per text
            for _ in range(times):
                conn.execute(sql, (seconds,))

    def audit_statements(*args):
        return perfcheck("audit", "--db", database.url, "--only", "db.slow_queries", "--baseline",
                         str(tmp_path / "baseline.json"), *args, cwd=str(tmp_path))

    run("SELECT pg_sleep(%s)", 0.012, 10)  # a mean of ~12 ms: under the 20 ms target, above half of it
    first = audit_statements("--update-baseline", "--format", "json")
    assert first.code == 0, first.err
    check = json.loads((tmp_path / "baseline.json").read_text())["checks"][0]
    assert check["status"] == "pass" and "SELECT pg_sleep($1)" in check["metrics"]["near_target"], check

    run("SELECT pg_sleep(%s)", 0.03, 15)  # the mean creeps over the target (~23 ms): within the noise band
    crept = audit_statements("--format", "json")
    assert crept.code == 0, crept.out + crept.err
    comparison = json.loads(crept.out)["baseline"]
    assert comparison["regressions"] == [] and any(
        n["object"] == "SELECT pg_sleep($1)" and "just under the target in the baseline" in n["message"]
        for n in comparison["notes"]), comparison

    run("SELECT pg_sleep(%s), 'new'", 0.03, 5)  # a statement the baseline never had, as slow
    new = audit_statements()
    assert new.code == 1, new.out + new.err
    assert "new finding db.slow_queries:SELECT pg_sleep($1), $2" in new.err


def test_gating_mistakes_are_one_line_errors_before_any_audit(tmp_path):
    url = "postgresql://nobody@127.0.0.1:1/none"  # never reached: the flags are checked first
    runs = {
        "no such file; run once with --update-baseline": perfcheck("audit", "--db", url, "--baseline", str(tmp_path / "nope.json")),
        "need --output-dir": perfcheck("audit", "--db", url, "--format", "json", "--format", "sarif"),
        "not both": perfcheck("audit", "--db", url, "--format", "json", "--output", "x", "--output-dir", str(tmp_path)),
        "--update-baseline needs --baseline": perfcheck("audit", "--db", url, "--update-baseline"),
    }
    (tmp_path / "bad.yaml").write_text("assertions:\n  db.timeout: error\n")
    runs["unknown check or category 'db.timeout'"] = perfcheck("audit", "--db", url, "--config", str(tmp_path / "bad.yaml"))
    for needle, run in runs.items():
        lines = [line for line in run.err.splitlines() if line.strip()]
        assert run.code == 2 and len(lines) == 1 and needle in lines[0], (needle, run.err)
        assert "cannot connect" not in run.err


def test_gzip_turned_off_is_a_regression(tmp_path):
    """The same API with gzip (the sample API's GOOD mode), then without (BAD)."""
    from http_servers import SampleApi

    config = tmp_path / "perfcheck.yaml"
    config.write_text("http:\n  endpoints:\n    - {path: /api/items, kind: list}\n    - {path: /api/report}\n")

    def run(app, *args):
        return perfcheck("audit", "--url", app.url, "--only", "api.compression", "--baseline", "baseline.json", *args,
                         cwd=str(tmp_path))

    with SampleApi("good") as app:
        assert run(app, "--update-baseline", "--format", "json").code == 0
        again = run(app)
        assert again.code == 0, again.out + again.err
    with SampleApi("bad") as app:
        bad = run(app, "--format", "markdown")
    assert bad.code == 1, bad.out + bad.err
    assert "api.compression got worse: pass → " in bad.out.replace("\\", "")
    assert "new finding in api.compression" in bad.out.replace("\\", "")
    assert "gate failed" in bad.err and "api.compression pass → " in bad.err
