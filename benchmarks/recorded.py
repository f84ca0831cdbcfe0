"""The psql reference, from what perfcheck actually sent: record, then replay.

The audit runs once with the server logging every statement and connection
(`log_statement = all`, `log_connections = on`, the application name in the line prefix,
set with ALTER SYSTEM and a reload, reset afterwards). `replay_script()` turns the log's
records from application `perfcheck` into one psql script: each statement with its bound
parameters written in as literals, in the order sent, and a `\\connect` wherever perfcheck
opened another session (its connect-latency and pooler probes, and the side session that
runs postgres.columns beside the rest: psql replays that query in sequence, where perfcheck
overlaps it). So the reference runs the statements the collector sends, never a list kept
by hand that drifts from it.

A connection attempt that failed (the pooler probe's try of a `pgbouncer` database on a
plain PostgreSQL) is left out: psql would drop its session on it. That makes the
reference a few milliseconds faster than perfcheck's work, never slower.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

# '%m [%p] %a: ' as set below: time, pid, application name.
_RECORD = re.compile(r"^\d{4}-\d\d-\d\d [\d:.]+ \w+ \[(\d+)\] (.*?): (LOG|DETAIL|FATAL|ERROR|STATEMENT|HINT):  (.*)$")
_STATEMENT = re.compile(r"^(?:statement|execute [^:]+): (.*)$", re.S)
_PARAM = re.compile(r"\$(\d+) = (NULL|'(?:[^']|'')*')")
_AUTHORIZED = re.compile(r"connection authorized: .*application_name=perfcheck\b")

SETTINGS = {"log_statement": "'all'", "log_connections": "on", "log_line_prefix": "'%m [%p] %a: '"}


def _psql(bindir: Path, url: str, *sql: str) -> None:
    args = [str(bindir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url]
    for statement in sql:
        args += ["-c", statement]
    subprocess.run(args, check=True, capture_output=True)


def record(bindir: Path, url: str, log: Path, audit: list[str]) -> list[tuple[int, str, str]]:
    """Run `audit` once with statement logging on; its records as (pid, level, message)."""
    before = log.stat().st_size if log.exists() else 0
    _psql(bindir, url, *[f"ALTER SYSTEM SET {k} = {v}" for k, v in SETTINGS.items()], "SELECT pg_reload_conf()")
    try:
        subprocess.run(audit, check=False, capture_output=True)
    finally:
        _psql(bindir, url, *[f"ALTER SYSTEM RESET {k}" for k in SETTINGS], "SELECT pg_reload_conf()")
    with open(log, encoding="utf-8", errors="replace") as fh:
        fh.seek(before)
        return parse(fh.read())


def parse(text: str) -> list[tuple[int, str, str]]:
    """Log records (a line, then its tab-indented continuation lines) of perfcheck's sessions."""
    records: list[tuple[int, str, str, str]] = []
    for line in text.splitlines():
        found = _RECORD.match(line)
        if found:
            pid, app, level, message = found.groups()
            records.append((int(pid), app, level, message))
        elif records and line.startswith("\t"):
            pid, app, level, message = records[-1]
            records[-1] = (pid, app, level, message + "\n" + line[1:])
    ours = {pid for pid, app, level, message in records if app == "perfcheck" or _AUTHORIZED.search(message)}
    return [(pid, level, message) for pid, app, level, message in records if pid in ours]


def _bind(statement: str, detail: str | None) -> str:
    """The statement with its parameters ($1…, as the DETAIL record gave them) written in."""
    if not detail:
        return statement
    values = {int(n): v for n, v in _PARAM.findall(detail)}
    return re.sub(r"\$(\d+)\b", lambda m: values.get(int(m.group(1)), m.group(0)), statement)


def replay_script(records: list[tuple[int, str, str]]) -> tuple[str, int, int]:
    """(psql script, statements, sessions) replaying the recorded records in order."""
    parts: list[str] = []
    sessions: list[int] = []
    statements = 0
    pending: str | None = None  # an extended-protocol statement waits for its parameters
    for pid, level, message in records:
        if level == "LOG" and _AUTHORIZED.search(message):
            if sessions:
                parts.append("\\connect")
            sessions.append(pid)
            continue
        if pending is not None:
            parts.append(_bind(pending, message.removeprefix("parameters: ") if level == "DETAIL" else None) + ";")
            statements, pending = statements + 1, None
            if level == "DETAIL":
                continue
        found = _STATEMENT.match(message) if level == "LOG" else None
        if found:
            pending = found.group(1).rstrip().rstrip(";")
    if pending is not None:
        parts.append(pending + ";")
        statements += 1
    return "\n".join(parts) + "\n", statements, len(sessions)


def psql_reference(bindir: Path, url: str, log: Path, audit: list[str], workdir: Path) -> tuple[list[str], str]:
    """The psql command replaying what `audit` sends, and a line saying what it replays."""
    script, statements, sessions = replay_script(record(bindir, url, log, audit))
    if not statements:
        raise RuntimeError(f"no statement of perfcheck's was recorded in {log}")
    path = workdir / "recorded.sql"
    path.write_text(script)
    # No ON_ERROR_STOP: a statement that runs into perfcheck's own statement_timeout (which the
    # replay sets, as the audit does) is cancelled in both, and the replay goes on as the audit does.
    command = [str(bindir / "psql"), "-X", "-q", "-A", "-t", "-o", "/dev/null", "-d", url, "-f", str(path)]
    return command, f"{statements} statements in {sessions} sessions, recorded from the audit's own run"
