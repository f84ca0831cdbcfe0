"""Privilege-aware verdicts, end to end: what an audit role without pg_monitor (or
pg_read_all_stats) may not see must never pass.

PostgreSQL shows such a role other roles' sessions without their state, times or query,
and other roles' pg_stat_statements rows without their text and queryid. Here the
application role `owner…` runs a workload with the checklist's problems and leaves two
transactions idle; the audit role `audit…` (no pg_monitor, SELECT on the tables so that
only the missing grant is in the way) audits it through the CLI, as a user would: the
checks that need what is hidden are `error` and name the grant; after
`GRANT pg_monitor` the same audit judges them as the superuser does. A healthy database
whose one role audits itself keeps its verdicts.
"""

from __future__ import annotations

import os
import time
from urllib.parse import quote

import psycopg
import pytest

from helpers import check, perfcheck
from hostile import assert_clean, run_bounded

CONFIG = ("checks:\n"
          "  db.long_transactions:\n    thresholds: {max_idle_in_transaction_s: 1}\n"
          # Whatever this machine's speed, the unindexed lookup counts for the advisor.
          "  db.missing_indexes:\n    thresholds: {min_mean_ms: 0}\n")

SCHEMA = """
CREATE TABLE authors (id serial PRIMARY KEY, name text NOT NULL);
INSERT INTO authors (name) SELECT 'author ' || g FROM generate_series(1, 300) g;
CREATE TABLE posts (id serial PRIMARY KEY, author_id int NOT NULL REFERENCES authors (id),
                    title text NOT NULL, created_at timestamptz NOT NULL);
INSERT INTO posts (author_id, title, created_at)
  SELECT 1 + g % 300, 'post ' || g, now() - g * interval '1 hour' FROM generate_series(1, 3000) g;
CREATE INDEX posts_author_id_idx ON posts (author_id);
CREATE INDEX posts_created_at_idx ON posts (created_at);
CREATE TABLE events (id bigserial PRIMARY KEY, kind text NOT NULL);
INSERT INTO events (kind) SELECT 'kind' || g % 97 FROM generate_series(1, 20000) g;
CREATE TABLE profiles (id serial PRIMARY KEY, name text, email text, bio text, street text, city text, zip text,
                       country text, phone text, company text, website text, locale text);
INSERT INTO profiles (name, bio) SELECT 'p' || g, repeat('bio ', 50) FROM generate_series(1, 200) g;
ANALYZE;
"""

# The checks that read other roles' sessions or statement texts.
BLIND = ["db.long_transactions", "db.slow_queries", "db.n_plus_one", "db.offset_pagination", "db.select_star",
         "db.prepared_statements", "db.missing_indexes"]
LEAKS = ("<insufficient privilege>", "queryid None", "Traceback")


def url(server, database: str, user: str, password: str) -> str:
    return f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@127.0.0.1:{server.port}/{database}"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def planted_workload(conn: psycopg.Connection) -> None:
    """N+1, OFFSET pages, SELECT *, a slow statement, an unindexed lookup; every statement
    planned anew (`conn` made with prepare_threshold=None)."""
    for page in range(15):
        rows = conn.execute("SELECT id, author_id FROM posts WHERE author_id > %s ORDER BY created_at DESC LIMIT 20",
                            (page,)).fetchall()
        for _id, author_id in rows:
            conn.execute("SELECT id, name FROM authors WHERE id = %s", (author_id,)).fetchone()
    for page in range(12):
        conn.execute("SELECT id, kind FROM events ORDER BY id DESC LIMIT %s OFFSET %s", (50, 1000 * page)).fetchall()
    for i in range(12):
        conn.execute("SELECT * FROM profiles WHERE id = %s", (1 + i,)).fetchone()
        conn.execute("SELECT id FROM events WHERE kind = %s", (f"kind{i}",)).fetchall()
    for _ in range(5):
        conn.execute("SELECT pg_sleep(%s)", (0.03,))


class Blind:
    """The planted database and its two roles; `audit(user)` runs the CLI as one of them."""

    def __init__(self, server, name: str, config: str):
        self.server, self.name, self.config = server, name, config
        suffix = os.getpid()
        self.owner, self.owner_pw = f"owner_{suffix}", "Owner-pw-1"
        # A role name that must be quoted in the GRANT the audit prints.
        self.auditor, self.auditor_pw = f'Audit "team" {suffix}', "Audit-pw-Secret-1"

    def audit(self, user: str | None = None, password: str | None = None):
        target = url(self.server, self.name, user, password) if user else self.server.url_for(self.name)
        run, _ = run_bounded("audit", "--db", target, "--config", self.config, "--only", "database",
                             "--format", "json", seconds=120)
        assert_clean(run, code=0, secrets=(self.auditor_pw, self.owner_pw))
        for text in LEAKS:
            assert text not in run.out and text not in run.err, text
        return run.json


@pytest.fixture(scope="module")
def blind(pg_server, tmp_path_factory):
    config = tmp_path_factory.mktemp("priv") / "perfcheck.yaml"
    config.write_text(CONFIG)
    db = Blind(pg_server, f"priv_{os.getpid()}", str(config))
    pg_server.psql(f"CREATE DATABASE {db.name}")
    pg_server.psql(f"CREATE ROLE {db.owner} LOGIN PASSWORD '{db.owner_pw}'")
    pg_server.psql(f"CREATE ROLE {ident(db.auditor)} LOGIN PASSWORD '{db.auditor_pw}'")
    sessions = []
    try:
        pg_server.psql("CREATE EXTENSION pg_stat_statements", db.name)
        pg_server.psql(f"ALTER SCHEMA public OWNER TO {db.owner}", db.name)
        owner_url = url(pg_server, db.name, db.owner, db.owner_pw)
        with psycopg.connect(owner_url, autocommit=True, prepare_threshold=None) as conn:
            conn.execute(SCHEMA)
            conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {ident(db.auditor)}")
            started = time.monotonic()
            for _ in range(2):  # two transactions of the owner left idle past the 1 s limit
                idle = psycopg.connect(owner_url)
                idle.execute("SELECT 1 FROM authors LIMIT 1")
                sessions.append(idle)
            planted_workload(conn)
        time.sleep(max(0.0, 1.5 - (time.monotonic() - started)))
        hidden = db.audit(db.auditor, db.auditor_pw)
        pg_server.psql(f"GRANT pg_monitor TO {ident(db.auditor)}")
        granted = db.audit(db.auditor, db.auditor_pw)
        full = db.audit()
        yield db, hidden, granted, full, [s.info.backend_pid for s in sessions]
    finally:
        for session in sessions:
            session.close()
        pg_server.psql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db.name}'")
        pg_server.psql(f"DROP DATABASE IF EXISTS {db.name}")
        pg_server.psql(f"DROP ROLE IF EXISTS {db.owner}")
        pg_server.psql(f"DROP ROLE IF EXISTS {ident(db.auditor)}")


def test_without_pg_monitor_hidden_sessions_and_statements_are_errors_naming_the_grant(blind):
    db, hidden, _, full, idle_pids = blind
    grant = f'GRANT pg_monitor TO "Audit ""team"" {os.getpid()}";'
    for check_id in BLIND:
        result = check(hidden, check_id)
        assert result["status"] == "error", (check_id, result["status"], result["summary"])
        assert grant in result["summary"], (check_id, result["summary"])
        assert not result["findings"]
    assert "2 sessions of other roles in a transaction" in check(hidden, "db.long_transactions")["summary"]
    # What the superuser sees: each of those checks finds the planted problem.
    assert {f["object"] for f in check(full, "db.long_transactions")["findings"]} == {f"pid {p}" for p in idle_pids}
    for check_id in ("db.slow_queries", "db.n_plus_one", "db.offset_pagination", "db.select_star"):
        assert check(full, check_id)["status"] in ("warn", "fail"), (check_id, check(full, check_id)["summary"])


def test_without_pg_monitor_connection_counts_stand_and_hidden_states_are_said(blind):
    _, hidden, _, full, _ = blind
    pool, full_pool = check(hidden, "db.pool"), check(full, "db.pool")
    assert pool["status"] == full_pool["status"]
    # The only problem either sees: nothing pools (no pooler, no pool size in the URL).
    assert {f["object"] for f in pool["findings"] if f["severity"] != "info"} <= {"pooler"}
    # The other role's sessions count; the checkpointer, walwriter and launchers (five of them)
    # do not. One apart at most: a just-closed session of perfcheck's own may still be exiting.
    assert abs(pool["metrics"]["connections"] - full_pool["metrics"]["connections"]) <= 1
    assert pool["metrics"]["states"]["hidden"] == 2
    assert "GRANT pg_monitor TO" in pool["summary"]


def test_after_grant_pg_monitor_the_audit_judges_as_the_superuser_does(blind):
    _, _, granted, full, idle_pids = blind
    for check_id in BLIND + ["db.pool"]:
        assert check(granted, check_id)["status"] == check(full, check_id)["status"], (check_id, check(granted, check_id))
        assert check(granted, check_id)["metrics"].get("hidden", 0) == 0, check_id
    assert {f["object"] for f in check(granted, "db.long_transactions")["findings"]} == {f"pid {p}" for p in idle_pids}
    assert ({f["object"] for f in check(granted, "db.n_plus_one")["findings"]}
            == {f["object"] for f in check(full, "db.n_plus_one")["findings"]} == {"public.authors"})


def test_a_healthy_role_auditing_its_own_workload_keeps_its_verdicts(pg_server, database, tmp_path):
    role, password = f"solo_{os.getpid()}", "Solo-pw-1"
    database.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    try:
        database.execute(f"ALTER SCHEMA public OWNER TO {role}")
        solo = url(pg_server, database.name, role, password)
        with psycopg.connect(solo, autocommit=True) as conn:
            conn.execute(SCHEMA)
            for page in range(15):
                rows = conn.execute("SELECT id, author_id FROM posts WHERE author_id > %s ORDER BY created_at DESC "
                                    "LIMIT 20", (page,)).fetchall()
                conn.execute("SELECT id, name FROM authors WHERE id = ANY(%s)", ([r[1] for r in rows],)).fetchall()
            last = 10**9
            for _ in range(12):
                rows = conn.execute("SELECT id, kind FROM events WHERE id < %s ORDER BY id DESC LIMIT 50",
                                    (last,)).fetchall()
                last = rows[-1][0]
                conn.execute("SELECT id, name, email FROM profiles WHERE id = %s", (1 + last % 100,)).fetchone()
        config = tmp_path / "perfcheck.yaml"
        config.write_text(CONFIG)
        runs = {}
        for who, target in (("solo", solo), ("superuser", database.url)):
            run, _ = run_bounded("audit", "--db", target, "--config", str(config), "--only", "database",
                                 "--format", "json", seconds=120)
            assert_clean(run, code=0, secrets=(password,))
            runs[who] = {c["id"]: c for c in run.json["checks"]}
        for check_id, result in runs["solo"].items():
            assert result["status"] != "error", (check_id, result["summary"])
            assert result["status"] == runs["superuser"][check_id]["status"], (check_id, result["summary"])
        for check_id in ("db.long_transactions", "db.n_plus_one", "db.offset_pagination", "db.select_star"):
            assert runs["solo"][check_id]["status"] == "pass", (check_id, runs["solo"][check_id]["summary"])
        # The server's background processes, hidden from this role, are not its connections.
        # (One apart at most: a just-closed session of perfcheck's own may still be exiting.)
        assert abs(runs["solo"]["db.pool"]["metrics"]["connections"]
                   - runs["superuser"]["db.pool"]["metrics"]["connections"]) <= 1
        # Nothing of another role in this database (the pool counts the whole server's sessions).
        assert runs["solo"]["db.long_transactions"]["metrics"]["hidden_sessions"] == 0
    finally:
        database.execute(f"REASSIGN OWNED BY {role} TO {pg_server.user}")
        pg_server.psql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'")
        database.execute(f"DROP ROLE {role}")
