"""Hostile input: config files, baselines, compare inputs, output paths and flags that are
wrong in every way a user (or an attacker with write access to the repo) can make them.
Each case asserts what the user sees: exit 2, one line on stderr naming the problem, no
traceback, within a bounded time, and no connection attempted (the checks happen before
any audit; the target URL points at a closed port, so an audit that ran would say so)."""

from __future__ import annotations

import json
import os
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from helpers import Run
from hostile import assert_clean, run_bounded

from perfcheck.model import SCHEMA

CLOSED = "http://127.0.0.1:1/"  # nothing listens: validation must stop before connecting
SECONDS = 30  # a generous bound for a 2-core box shared by several test runs
SECRET = "s3cret-pw-4711"


def error_line(run: Run, *needles: str, secrets: tuple[str, ...] = ()) -> str:
    """The hostile-input contract, and the one stderr line saying what is wrong."""
    assert_clean(run, code=2, secrets=secrets)
    line = run.err.strip()
    assert line.startswith("perfcheck: error:"), line
    assert "cannot audit" not in line and "cannot connect" not in line, f"the audit ran: {line}"
    for needle in needles:
        assert needle in line, f"{needle!r} not in {line!r}"
    return line


def audit(*args: str, cwd: Path | None = None) -> Run:
    run, _ = run_bounded("audit", "--url", CLOSED, *args, seconds=SECONDS, cwd=str(cwd) if cwd else None)
    return run


def config_file(tmp_path: Path, content: str | bytes) -> str:
    path = tmp_path / "perfcheck.yaml"
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    return str(path)


# --- config files ---------------------------------------------------------------------------

def test_binary_config_is_one_line_not_a_unicode_traceback(tmp_path):
    noise = bytes(random.Random(7).randrange(256) for _ in range(4096))
    error_line(audit("-c", config_file(tmp_path, b"targets:\n" + noise)), "perfcheck.yaml line", "not UTF-8")


def test_a_nul_byte_in_the_config_is_named_with_its_line(tmp_path):
    error_line(audit("-c", config_file(tmp_path, b"only: []\nskip: [\x00]\n")), "perfcheck.yaml line 2", "U+0000")


@pytest.mark.parametrize("text", [
    "only: " + "[" * 5000 + "]" * 5000,
    "- " * 5000 + "x\n",  # block sequences, each inside the one before
], ids=["flow", "block"])
def test_config_nested_5000_deep_is_one_line_not_a_recursion_error(tmp_path, text):
    error_line(audit("-c", config_file(tmp_path, text)), "perfcheck.yaml line", "nested more than")


def test_duplicate_top_level_key_is_rejected_with_its_line(tmp_path):
    path = config_file(tmp_path, "skip: [db.pool]\nchecks: {}\nskip: []\n")
    error_line(audit("-c", path), "perfcheck.yaml line 3", "duplicate key 'skip' (first given on line 1)")


def test_duplicate_nested_key_is_rejected_without_echoing_the_url(tmp_path):
    text = (f"targets:\n  db: postgresql://app:{SECRET}@127.0.0.1:1/app\n"
            f"  db: postgresql://app:{SECRET}@127.0.0.1:2/app\n")
    error_line(audit("-c", config_file(tmp_path, text)), "line 3", "duplicate key 'db'", secrets=(SECRET,))


@pytest.mark.parametrize("text, needles", [
    ("checks:\n  db.slow_querys:\n    weight: 2\n",
     ["line 2", "unknown check 'db.slow_querys'", "did you mean 'db.slow_queries'"]),
    ("targetz:\n  url: http://127.0.0.1:1/\n", ["line 1", "unknown key 'targetz'", "did you mean 'targets'"]),
    ("categories:\n  databse: {weight: 2}\n", ["line 2", "unknown category 'databse'", "did you mean 'database'"]),
    ("checks:\n  db.slow_queries:\n    thresholds: {mean_msec: 5}\n",
     ["line 3", "unknown threshold 'mean_msec'", "did you mean 'mean_ms'"]),
    ("skip:\n  - db.pool\n  - cach\n", ["line 3", "unknown check or category 'cach'", "did you mean 'cache'"]),
    ("assertions:\n  db.timeout: error\n", ["line 2", "did you mean 'db.timeouts'"]),
    ("mute:\n  - check: db.timeout\n    reason: the pooler sets it\n", ["line 2", "mute[0]", "did you mean 'db.timeouts'"]),
], ids=["check-id", "key", "category", "threshold", "skip", "assertion", "mute"])
def test_misspelt_names_are_rejected_with_did_you_mean(tmp_path, text, needles):
    error_line(audit("-c", config_file(tmp_path, text)), *needles)


@pytest.mark.parametrize("text, needles", [
    ("checks:\n  db.slow_queries:\n    thresholds: {mean_ms: fast}\n", ["mean_ms: expected a number, got a string"]),
    ("only: db.timeouts\n", ["only: expected a list, got a string"]),
    ("http:\n  load: 200\n", ["http.load: expected a mapping"]),
    ("- targets\n- checks\n", ["expected a mapping at the top level", "got a list"]),
    ("redis:\n  sample_keys: true\n", ["redis.sample_keys: expected an integer, got true/false"]),
], ids=["threshold", "list", "section", "top-level", "bool"])
def test_values_of_the_wrong_type_are_rejected(tmp_path, text, needles):
    error_line(audit("-c", config_file(tmp_path, text)), *needles)


@pytest.mark.parametrize("text, needle", [
    ("http:\n  load:\n    requests: -5\n", "http.load.requests: must be 1 or more, got -5"),
    ("http:\n  load:\n    rate: -1\n", "http.load.rate: must be greater than 0"),
    ("http:\n  load:\n    concurrency: 0\n", "http.load.concurrency: must be 1 or more"),
    ("http:\n  load:\n    max_seconds: -3\n", "http.load.max_seconds: must be greater than 0"),
    ("http:\n  timeout_s: .inf\n", "http.timeout_s: expected a finite number"),
    ("postgres:\n  statement_timeout_ms: 0\n", "postgres.statement_timeout_ms: must be 1 or more"),
    ("redis:\n  sample_seconds: -1\n", "redis.sample_seconds: must be greater than 0"),
    ("checks:\n  db.pool:\n    weight: -1\n", "checks.db.pool.weight: must be 0 or more"),
], ids=["requests", "rate", "concurrency", "max_seconds", "inf", "statement_timeout", "sample_seconds", "weight"])
def test_negative_zero_and_endless_load_values_are_rejected(tmp_path, text, needle):
    error_line(audit("-c", config_file(tmp_path, text)), needle)


def test_an_empty_config_is_the_defaults(tmp_path):
    path = config_file(tmp_path, "")
    run, _ = run_bounded("audit", "-c", path, seconds=SECONDS)  # no target: the defaults have none
    assert "no target configured" in error_line(run)


def test_a_directory_or_a_missing_file_as_config(tmp_path):
    error_line(audit("-c", str(tmp_path)), "is a directory")
    error_line(audit("-c", str(tmp_path / "nope.yaml")), "cannot read: No such file")


def test_a_huge_config_is_refused_before_it_is_parsed(tmp_path):
    path = config_file(tmp_path, "# padding\n" * 300_000)  # 3 MB of comments: valid YAML, absurd size
    error_line(audit("-c", path), "larger than 256 KiB")
    error_line(audit("-c", "/dev/zero"), "larger than 256 KiB")  # endless: read no further than the limit


def test_aliases_that_expand_to_millions_of_values_are_refused(tmp_path):
    rows = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    rows += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    error_line(audit("-c", config_file(tmp_path, "\n".join(rows) + "\n")), "expands to more than")


# --- baselines and compare inputs --------------------------------------------------------------

def good_report() -> dict:
    check = {"id": "db.timeouts", "category": "database", "target": "postgres", "title": "t", "status": "pass",
             "score": 1.0, "weight": 1.0, "summary": "ok", "metrics": {}, "findings": [], "muted": None}
    return {"schema": SCHEMA, "score": 100, "categories": [{"id": "database", "title": "Database", "score": 100}],
            "checks": [check], "targets": {}, "errors": [], "perfcheck_version": "0", "created_at": "", "duration_s": 0}


BAD_REPORTS = {
    "list": ("[]", "expected a JSON object, got an array"),
    "empty-object": ("{}", 'no "schema" field'),
    "binary": (b"\x89PNG\r\n\x1a\n\xff\xfe\x00" * 50, "not UTF-8"),
    "truncated": (json.dumps(good_report())[:120], "not JSON"),
    "other-version": (json.dumps({**good_report(), "schema": "perfcheck.report/2"}), "perfcheck.report/2"),
    "checks-object": (json.dumps({**good_report(), "checks": {"db.timeouts": {}}}), "checks: expected an array"),
    "check-shape": (json.dumps({**good_report(), "checks": [{"id": "db.timeouts"}]}), "checks[0].category"),
    "deep": ("[" * 5000 + "]" * 5000, "nested too deeply"),
    "deep-object": ('{"schema": "%s", "checks": ' % SCHEMA + '{"a": ' * 5000 + "1" + "}" * 5001, "nested"),
}


@pytest.mark.parametrize("name", list(BAD_REPORTS))
def test_a_bad_baseline_is_one_line_before_auditing(tmp_path, name):
    content, needle = BAD_REPORTS[name]
    path = tmp_path / "baseline.json"
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    error_line(audit("--baseline", str(path)), f"--baseline {path}", needle)


@pytest.mark.parametrize("name", ["list", "check-shape", "deep"])
def test_compare_with_a_bad_input_on_either_side(tmp_path, name):
    content, needle = BAD_REPORTS[name]
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(good_report()))
    bad.write_text(content)
    for old, new in ((good, bad), (bad, good)):
        run, _ = run_bounded("compare", str(old), str(new), seconds=SECONDS, cwd=str(tmp_path))
        error_line(run, str(bad), needle)


def test_compare_of_two_good_reports_still_works(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(good_report()))
    run, _ = run_bounded("compare", str(good), str(good), seconds=SECONDS, cwd=str(tmp_path))
    assert_clean(run, code=0)


# --- output paths: checked before the audit, not after it ---------------------------------------

def test_output_in_a_missing_folder_or_under_proc(tmp_path):
    error_line(audit("-o", str(tmp_path / "nope" / "r.txt")), "--output", "does not exist")
    error_line(audit("-o", "/proc/nope/r.txt"), "--output /proc/nope/r.txt", "does not exist")
    error_line(audit("-o", "/proc/r.txt"), "--output /proc/r.txt", "cannot write in /proc")


def test_output_that_is_a_directory(tmp_path):
    error_line(audit("-o", str(tmp_path)), "is a directory")
    (tmp_path / "file").write_text("")
    error_line(audit("-f", "json", "-f", "sarif", "--output-dir", str(tmp_path / "file" / "sub")), "--output-dir", "not a folder")


def test_update_baseline_into_a_missing_folder(tmp_path):
    target = tmp_path / "nope" / "baseline.json"
    error_line(audit("--baseline", str(target), "--update-baseline"), "--baseline", "does not exist")


def test_output_in_a_read_only_folder(tmp_path):
    if os.geteuid() == 0:  # root writes past permission bits; sysfs refuses new files even to root
        folder = Path("/sys")
    else:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o555)
    error_line(audit("-o", str(folder / "perfcheck-report.txt")), f"cannot write in {folder}")


class _Counting(BaseHTTPRequestHandler):
    requests = 0

    def do_GET(self):  # noqa: N802 (http.server's name)
        type(self).requests += 1
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, *args):
        pass


def test_an_unwritable_output_stops_before_a_single_request_reaches_a_live_target(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        run, _ = run_bounded("audit", "--url", url, "--only", "api.compression", "-o", "/proc/nope/r.txt", seconds=SECONDS)
        error_line(run, "--output /proc/nope/r.txt", "does not exist")
        assert _Counting.requests == 0, "the target was audited before the output path was checked"
    finally:
        server.shutdown()
        server.server_close()


# --- odd flags --------------------------------------------------------------------------------

@pytest.mark.parametrize("args, needles", [
    (["--fail-under", "101"], ["--fail-under", "101 is not in the range"]),
    (["--dbb", "postgresql://x@127.0.0.1:1/x"], ["No such option: --dbb", "--db"]),
    (["--format", "xml"], ["'xml' is not one of"]),
    (["--only", "db.slow_querys"], ["--only", "did you mean 'db.slow_queries'"]),
    (["--skip", "databse"], ["--skip", "did you mean 'database'"]),
    (["--only", ""], ["unknown check or category ''"]),
    (["--skip", "db.\udcff\udcfe"], ["--skip", "unknown check or category"]),  # a non-UTF-8 byte in argv
], ids=["range", "unknown-option", "format", "only", "skip", "empty", "non-utf8"])
def test_odd_flags_are_one_line(args, needles):
    error_line(audit(*args), *needles)


def test_compare_without_arguments_is_one_line():
    run, _ = run_bounded("compare", seconds=SECONDS)
    error_line(run, "Missing argument")


def test_explain_a_misspelt_check_suggests_the_right_one():
    run, _ = run_bounded("explain", "db.slow_querys", seconds=SECONDS)
    error_line(run, "unknown check 'db.slow_querys'", "did you mean 'db.slow_queries'")


# --- the config found in a parent folder; every error at once --------------------------------------

def test_a_config_in_a_parent_folder_is_found_and_all_its_errors_shown_one_line_each(tmp_path):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    deeper = repo / "src" / "app"
    deeper.mkdir(parents=True)
    (repo / "perfcheck.yaml").write_text(
        f"targetz: {{}}\npostgres:\n  statement_timeout_ms: soon\nredis:\n  window_s: -1\n"
        f"checks:\n  db.fk_index: {{}}\n# postgresql://app:{SECRET}@db/app\n")
    run = audit(cwd=deeper)
    assert_clean(run, code=2, secrets=(SECRET,), one_line=False)
    lines = run.err.strip().splitlines()
    assert len(lines) == 4 and all(line.startswith(f"perfcheck: error: {repo / 'perfcheck.yaml'} line ") for line in lines)
    assert "'targetz' (did you mean 'targets'?)" in lines[0] and "statement_timeout_ms" in lines[1]
    assert "window_s" in lines[2] and "did you mean 'db.fk_indexes'?" in lines[3]


def test_pyproject_tool_perfcheck_is_read_from_a_parent_and_a_config_above_the_repository_is_not(tmp_path):
    (tmp_path / "perfcheck.yaml").write_text("targetz: {}\n")  # outside the repository: never read
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "pyproject.toml").write_text('[tool.perfcheck]\nonly = ["db.nope"]\n')
    (repo / "sub").mkdir()
    line = error_line(audit(cwd=repo / "sub"), "pyproject.toml [tool.perfcheck]: only: unknown check or category 'db.nope'")
    assert "targetz" not in line
    (repo / "pyproject.toml").write_text('[project]\nname = "app"\n')  # no [tool.perfcheck]: the defaults
    run = audit("--max-seconds", "20", cwd=repo / "sub")
    assert "targetz" not in run.err and "Traceback" not in run.err
