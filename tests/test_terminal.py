"""The terminal report at the widths people use and in a pipe: snapshots of the fixed
report, no line past the width but a fix statement, which stays whole on one line, and no
word split in two. Colours as the environment and --color say, through the real CLI
(a pseudo-terminal where it must look like one); --quiet, --verbose, checks --format json
and shell completion."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from rich.cells import cell_len

from perfcheck.model import CheckResult, Finding, Fix, Status
from perfcheck.report import render
from perfcheck.report.console import Display, detect
from perfcheck.report.terminal import to_text
from tests.report_fixture import sample_report

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("PERFCHECK_UPDATE_SNAPSHOTS") == "1"
WIDTHS = (60, 80, 100, 160)
PERFCHECK = Path(sys.executable).with_name("perfcheck")
COLOR_CODE = re.compile(r"\x1b\[(?:\d+;)*(?:3[0-7]|38|9[0-7])(?:;\d+)*m")
ANY_ESCAPE = re.compile(r"\x1b\[")


def _fixes(report) -> list[str]:
    """The fix statements the report shows (those of the checks that failed or warned)."""
    return [s for r in report.checks if r.status in (Status.FAIL, Status.WARN) for f in r.findings if f.fix
            for s in f.fix.statements]


def _check_layout(text: str, width: int) -> None:
    report = sample_report()
    fixes = _fixes(report)
    for statement in fixes:  # whole, on one line
        assert any(statement in line for line in text.splitlines()), f"fix split: {statement}"
    for line in text.splitlines():
        if not any(statement in line for statement in fixes):
            assert cell_len(line) <= width, f"{cell_len(line)} columns > {width}: {line!r}"
    # Every word printed is a word of the report unwrapped: none was cut in two.
    vocabulary = set(to_text(report, width=1000).split())
    split = [word for word in text.split() if word not in vocabulary]
    assert not split, f"words split at {width} columns: {split}"


def _snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / name
    if UPDATE:
        path.write_text(text)
    assert path.exists(), f"no snapshot {name}: run with PERFCHECK_UPDATE_SNAPSHOTS=1 and review it"
    assert text == path.read_text(), f"{name} changed; if intended, PERFCHECK_UPDATE_SNAPSHOTS=1 and review the diff"


@pytest.mark.parametrize("width", WIDTHS)
def test_the_report_fits_each_width_with_fixes_whole_and_no_word_split(width):
    text = to_text(sample_report(), width=width)
    _check_layout(text, width)
    _snapshot(f"report.terminal-{width}.txt", text)


def test_the_latency_table_has_one_line_per_endpoint_at_80_columns():
    lines = to_text(sample_report(), width=80).splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("endpoint"))
    rows = lines[start + 1:start + 4]
    assert [row.split()[1] for row in rows] == ["/api/songs", "/api/songs/{id}", "/health"]
    assert all(row.strip() for row in rows)


def _saved(tmp_path: Path) -> Path:
    path = tmp_path / "report.json"
    path.write_text(render(sample_report(), "json"))
    return path


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR", "TERM",
                                                            "COLORTERM", "TTY_COMPATIBLE", "TTY_INTERACTIVE")}
    return {**env, "TERM": "xterm-256color", **extra}


def _piped(args: list[str], **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(PERFCHECK), *args], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          env=_env(**env), timeout=60)


def _in_pty(args: list[str], columns: int = 100, **env: str) -> str:
    """The output of perfcheck on a pseudo-terminal `columns` wide (stdin, stdout and
    stderr all on it, as in a shell)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    proc = subprocess.Popen([str(PERFCHECK), *args], stdin=slave, stdout=slave, stderr=slave,
                            env=_env(**env), close_fds=True)
    os.close(slave)
    chunks, deadline = [], time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
    finally:
        os.close(master)
        proc.wait(timeout=10)
    return b"".join(chunks).decode().replace("\r\n", "\n")


def test_in_a_pipe_the_report_is_plain_at_rich_s_default_width(tmp_path):
    result = _piped(["report", str(_saved(tmp_path))])
    assert result.returncode == 0, result.stderr
    assert not ANY_ESCAPE.search(result.stdout)
    _check_layout(result.stdout, 80)
    _snapshot("report.terminal-pipe.txt", result.stdout)


def test_columns_sets_the_width_in_a_pipe(tmp_path):
    result = _piped(["report", str(_saved(tmp_path))], COLUMNS="60")
    assert result.stdout == to_text(sample_report(), width=60)


@pytest.mark.parametrize("env, args, colours", [
    ({}, [], True),
    ({"NO_COLOR": "1"}, [], False),
    ({"TERM": "dumb"}, [], False),
    ({}, ["--color", "never"], False),
    ({"NO_COLOR": "1"}, ["--color", "always"], True),  # the flag wins over the environment
])
def test_colours_on_a_terminal(tmp_path, env, args, colours):
    out = _in_pty(["report", str(_saved(tmp_path)), *args], **env)
    assert "perfcheck" in out and "66" in out
    assert bool(COLOR_CODE.search(out)) is colours, out[:300]
    if args == ["--color", "never"] or env.get("TERM") == "dumb":
        assert not ANY_ESCAPE.search(out)


@pytest.mark.parametrize("env, args, colours", [
    ({}, [], False),
    ({"FORCE_COLOR": "1"}, [], True),
    ({}, ["--color", "always"], True),
    ({"FORCE_COLOR": "1"}, ["--color", "never"], False),
])
def test_colours_in_a_pipe(tmp_path, env, args, colours):
    result = _piped(["report", str(_saved(tmp_path)), *args], **env)
    assert result.returncode == 0, result.stderr
    assert bool(COLOR_CODE.search(result.stdout)) is colours


def test_the_terminal_s_own_width_is_followed(tmp_path):
    out = _in_pty(["report", str(_saved(tmp_path)), "--color", "never"], columns=70)
    _check_layout(out, 70)
    assert out == to_text(sample_report(), width=70)


def test_detect_follows_rich_for_a_file_and_the_flag_for_colours(tmp_path):
    with open(tmp_path / "out.txt", "w") as stream:
        assert detect("auto", stream).color_system is None
        assert detect("always", stream).color_system is not None
        assert detect("never", stream).color_system is None


def test_quiet_shows_the_score_line_and_the_failures_only():
    text = to_text(sample_report(), display=Display.plain(80, detail="quiet"))
    lines = text.splitlines()
    assert lines[0].startswith("perfcheck 66/100") and "2 warn, 1 error not shown" in lines[0]
    assert "✖ db.timeouts" in text and "ALTER DATABASE app SET statement_timeout = '30s';" in text
    for other in ("db.fk_indexes", "api.latency", "db.slow_queries", "db.unused_indexes", "Regressions", "╭"):
        assert other not in text


def test_verbose_shows_every_check_with_its_figures():
    text = to_text(sample_report(), display=Display.plain(100, detail="verbose"))
    report = sample_report()
    for result in report.checks:
        assert result.id in text
    assert "✔ db.unused_indexes  Large indexes that are never scanned" in text  # a full block, title and all
    assert "statement_timeout_ms: 0" in text and "idle_in_transaction_session_timeout_ms: 60000" in text
    normal = to_text(report, width=100)
    assert "statement_timeout_ms: 0" not in normal
    assert sum(r.status is Status.PASS for r in report.checks) == 1


def test_quiet_and_verbose_through_the_cli(tmp_path):
    saved = str(_saved(tmp_path))
    quiet = _piped(["report", saved, "--quiet"], COLUMNS="80")
    assert quiet.returncode == 0 and quiet.stdout == to_text(sample_report(), display=Display.plain(80, detail="quiet"))
    verbose = _piped(["report", saved, "-v"], COLUMNS="100")
    assert verbose.stdout == to_text(sample_report(), display=Display.plain(100, detail="verbose"))
    both = _piped(["report", saved, "-q", "-v"])
    assert both.returncode == 2 and both.stderr.count("\n") == 1 and "not both" in both.stderr


def test_checks_as_json():
    result = _piped(["checks", "--format", "json"])
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    ids = [row["id"] for row in rows]
    assert "db.fk_indexes" in ids and len(ids) == len(set(ids))
    latency = next(row for row in rows if row["id"] == "api.latency")
    assert latency["thresholds"]["p95_ms"] == 100 and set(latency) == {"id", "category", "target", "title", "thresholds"}


def test_checks_table_fits_the_width():
    result = _piped(["checks"], COLUMNS="80")
    assert all(cell_len(line) <= 80 for line in result.stdout.splitlines())
    assert not any(line.endswith(" ") for line in result.stdout.splitlines())


def test_did_you_mean_for_commands_and_ids():
    command = _piped(["audti"])
    assert command.returncode == 2
    assert command.stderr.strip().splitlines() == [
        "perfcheck: error: unknown command 'audti' (did you mean 'audit'?) (see `perfcheck -h`)"]
    check = _piped(["explain", "db.fk_index"])
    assert check.returncode == 2 and "did you mean 'db.fk_indexes'?" in check.stderr


def test_help_does_not_cut_command_descriptions():
    result = _piped(["--help"], COLUMNS="80")
    assert result.returncode == 0
    assert "..." not in result.stdout.partition("Commands:")[2]
    assert "from OLD to NEW, without" in result.stdout and "auditing (exit 1 on a regression)." in result.stdout


def test_shell_completion_is_on():
    # Typed in a shell, as a user would: typer finds the shell among the parent processes, and
    # the suite itself may run with no shell above it (started in the background, under CI).
    script = subprocess.run(["bash", "-c", f'"{PERFCHECK}" --show-completion; exit $?'], stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, env=_env(), timeout=60)
    assert script.returncode == 0 and "_PERFCHECK_COMPLETE" in script.stdout
    words = _piped([], _PERFCHECK_COMPLETE="complete_bash", COMP_WORDS="perfcheck au", COMP_CWORD="1")
    assert words.stdout.split() == ["audit"]
    flags = _piped([], _PERFCHECK_COMPLETE="complete_bash", COMP_WORDS="perfcheck audit --col", COMP_CWORD="2")
    assert flags.stdout.split() == ["--color"]


def _index_twice():
    """db.fk_indexes and db.missing_indexes recommending the same index."""
    statement = "CREATE INDEX CONCURRENTLY IF NOT EXISTS plays_song_id_idx ON public.plays (song_id);"
    report = sample_report(with_baseline=False)
    fk = next(r for r in report.checks if r.id == "db.fk_indexes")
    report.checks.append(CheckResult(
        "db.missing_indexes", "database", "postgres", "Queries scan tables that an index would serve", Status.FAIL, 0.2,
        "1 missing index", findings=[Finding("fail", "public.plays (song_id)", "this index cuts the planner cost",
                                             Fix((statement.rstrip(";"),)))]))
    return report, fk, statement


def test_an_index_two_checks_recommend_is_printed_once_and_the_second_refers_to_the_first():
    report, _fk, statement = _index_twice()
    text = to_text(report, width=100)
    assert text.count("plays_song_id_idx ON public.plays (song_id)") == 1  # under db.missing_indexes (a fail, first)
    assert "fix: the same statement as under db.missing_indexes above" in text
    assert text.index("✖ db.missing_indexes") < text.index("▲ db.fk_indexes")


def test_the_latency_table_says_how_much_was_perfchecks_own_time():
    report = sample_report(with_baseline=False)
    latency = next(r for r in report.checks if r.id == "api.latency")
    assert "perfcheck's own time" not in to_text(report, width=80)  # figures it did not time itself
    endpoints = list(latency.metrics["endpoints"].values())
    endpoints[0]["own_ms"] = {"p50_ms": 0.031, "p95_ms": 0.05, "p99_ms": 0.2}
    endpoints[1]["own_ms"] = {"p50_ms": 0.02, "p95_ms": 0.09, "p99_ms": 1.4}
    assert "of which perfcheck's own time, at most: P50 0.03 ms, P95 0.09 ms, P99 1.4 ms" in to_text(report, width=80)


def test_the_latency_table_names_an_endpoint_with_its_method_and_path():
    report = sample_report(with_baseline=False)
    latency = next(r for r in report.checks if r.id == "api.latency")
    latency.metrics["endpoints"]["home"] = {"p50_ms": 2.0, "p95_ms": 3.0, "p99_ms": 4.0, "max_ms": 5.0, "count": 20,
                                            "method": "GET", "path": "/"}
    latency.metrics["endpoints"]["GET /api/songs"].update(method="GET", path="/api/songs")
    compression = CheckResult("api.compression", "api", "http", "Compressible responses sent uncompressed", Status.FAIL,
                              0.0, "none of the 1 responses compressed as they should be",
                              findings=[Finding("fail", "home", "1.4 kB of text/html sent uncompressed")])
    report.checks.append(compression)
    text = to_text(report, width=80)
    assert "home (GET /)" in text and "GET /api/songs (GET" not in text
    assert "• home (GET /): 1.4 kB of text/html sent uncompressed" in text  # the finding's key stays "home"
    assert compression.findings[0].to_dict("api.compression")["key"] == "api.compression:home"


@pytest.mark.parametrize("args, needle", [
    (["checks", "--format", "xml"], "'xml' is not one of 'terminal', 'json'"),
    (["checks", "--color", "sometimes"], "'sometimes' is not one of 'auto', 'always', 'never'"),
    (["demo", "--show-after"], "--show-after shows the report after --fix; add --fix"),
])
def test_bad_display_flags_are_one_line(args, needle):
    result = _piped(args)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and needle in result.stderr
