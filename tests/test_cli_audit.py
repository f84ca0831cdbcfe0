"""The CLI as a user runs it, against the suite's own PostgreSQL."""

from __future__ import annotations

import time

from helpers import assert_report, check, perfcheck


def test_version_and_help():
    assert perfcheck("--version").out.startswith("perfcheck ")
    for command in ("audit", "checks", "explain", "init"):
        run = perfcheck(command, "--help")
        assert run.code == 0 and "Usage" in run.out


def test_timeouts_planted_then_fixed(database):
    database.execute(f"ALTER DATABASE {database.name} SET statement_timeout = 0")
    bad = perfcheck("audit", "--db", database.url, "--only", "db.timeouts", "--format", "json")
    assert bad.code == 0, bad.err
    result = check(bad.json, "db.timeouts")
    assert result["status"] == "fail"
    fixes = {f["object"]: f["fix"] for f in result["findings"]}
    assert fixes["statement_timeout"] == f"ALTER DATABASE {database.name} SET statement_timeout = '30s';"

    database.execute(f"ALTER DATABASE {database.name} SET statement_timeout = '30s'")
    database.execute(f"ALTER DATABASE {database.name} SET idle_in_transaction_session_timeout = '60s'")
    database.execute(f"ALTER DATABASE {database.name} SET lock_timeout = '10s'")
    good = perfcheck("audit", "--db", database.url, "--only", "db.timeouts", "--format", "json")
    assert check(good.json, "db.timeouts")["status"] == "pass"
    assert good.json["score"] == 100


def test_terminal_report_shows_scores_and_fixes(database):
    run = perfcheck("audit", "--db", database.url, "--only", "db.timeouts")
    assert "perfcheck" in run.out and "Database (PostgreSQL)" in run.out
    assert "ALTER DATABASE" in run.out


def test_gates_set_exit_code_one(database):
    run = perfcheck("audit", "--db", database.url, "--only", "db.timeouts", "--fail-on", "fail", "--format", "json")
    assert run.code == 1 and "gate failed" in run.err
    run = perfcheck("audit", "--db", database.url, "--only", "db.timeouts", "--fail-under", "95", "--format", "json")
    assert run.code == 1


def test_json_output_file_follows_the_contract(database, tmp_path):
    out = tmp_path / "report.json"
    run = perfcheck("audit", "--db", database.url, "--format", "json", "--output", str(out))
    assert run.code == 0 and run.out == ""
    import json

    report = assert_report(json.loads(out.read_text()))  # the whole run's report, against its schema
    assert report["schema"] == "perfcheck.report/1"
    assert {"score", "categories", "checks"} <= report.keys()
    for item in report["checks"]:
        assert {"id", "category", "target", "status", "score", "summary", "metrics", "findings"} <= item.keys()
        assert item["status"] in {"pass", "warn", "fail", "error", "skip", "manual"}


# --- bad input: one line, exit 2, no traceback, no secret --------------------------------

def _one_line_error(run, *needles):
    assert run.code == 2, (run.code, run.out, run.err)
    lines = [line for line in run.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("perfcheck: error:"), run.err
    assert "Traceback" not in run.err
    for needle in needles:
        assert needle in lines[0]
    return lines[0]


def test_malformed_yaml(tmp_path):
    path = tmp_path / "perfcheck.yaml"
    path.write_text("targets:\n  db: [unclosed\n")
    _one_line_error(perfcheck("audit", "--config", str(path)), "malformed YAML")


def test_unknown_key_and_wrong_type(tmp_path):
    path = tmp_path / "perfcheck.yaml"
    path.write_text("postgres:\n  statment_timeout_ms: 100\n")
    _one_line_error(perfcheck("audit", "--config", str(path), "--db", "postgresql://x@127.0.0.1/x"), "unknown key 'statment_timeout_ms'")
    path.write_text("checks:\n  db.slow_queries:\n    thresholds: {mean_ms: fast}\n    weight: heavy\n")
    _one_line_error(perfcheck("audit", "--config", str(path), "--db", "postgresql://x@127.0.0.1/x"), "weight")


def test_unknown_check_id(database):
    _one_line_error(perfcheck("audit", "--db", database.url, "--only", "db.nope"), "unknown check or category 'db.nope'")


def test_unknown_threshold(database, tmp_path):
    path = tmp_path / "perfcheck.yaml"
    path.write_text("checks:\n  db.timeouts:\n    thresholds: {statement_timeout: 30}\n")
    _one_line_error(perfcheck("audit", "--config", str(path), "--db", database.url), "unknown threshold 'statement_timeout'")


def test_malformed_url():
    _one_line_error(perfcheck("audit", "--db", "mysql://root:hunter2@127.0.0.1/x"), "must start with")


def test_unreachable_host_fails_within_the_connect_timeout():
    from perfcheck.demo.sandbox import free_port

    start = time.monotonic()
    line = _one_line_error(perfcheck("audit", "--db", f"postgresql://u:hunter2@127.0.0.1:{free_port()}/x"), "cannot connect")
    assert time.monotonic() - start < 10
    assert "hunter2" not in line


def test_wrong_password_is_not_echoed(pg_server, database):
    database.execute("CREATE ROLE app LOGIN PASSWORD 'right-password'")
    try:
        url = pg_server.url_for(database.name, user="app", password="wrong-Passw0rd")
        run = perfcheck("audit", "--db", url)
        line = _one_line_error(run, "password authentication failed")
        assert "wrong-Passw0rd" not in run.err + run.out and "***" in line
    finally:
        database.execute("DROP ROLE app")


def test_database_that_does_not_exist(pg_server):
    _one_line_error(perfcheck("audit", "--db", pg_server.url_for("no_such_db")), 'database "no_such_db" does not exist')


def test_no_target_at_all():
    _one_line_error(perfcheck("audit"), "no target configured")


def test_init_writes_a_config_that_validates(tmp_path):
    run = perfcheck("init", cwd=str(tmp_path))
    assert run.code == 0
    assert (tmp_path / "perfcheck.yaml").exists()
    again = perfcheck("init", cwd=str(tmp_path))
    assert again.code == 2 and "exists" in again.err
    from perfcheck import config

    assert config.load(str(tmp_path / "perfcheck.yaml"), environ={}).data["postgres"]["statement_timeout_ms"] == 5000


def test_explain_and_checks_list():
    run = perfcheck("explain", "db.fk_indexes")
    assert run.code == 0 and "Why it matters" in run.out
    assert perfcheck("explain", "db.nope").code == 2
    listing = perfcheck("checks")
    assert "db.timeouts" in listing.out and "statement_timeout_s=30" in listing.out
