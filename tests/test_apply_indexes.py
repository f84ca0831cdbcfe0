"""db.missing_indexes end to end through pg_stat_statements, and `perfcheck apply-indexes`
as a deploy runs it, including the faults it must survive: its backend terminated
mid-build, a session holding a conflicting lock, two deploys at once, Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

import psycopg
import pytest

from helpers import Run, check, perfcheck
from hostile import assert_clean, run_bounded

INDEX = "orders_customer_id_idx"


def seed(database, rows: int = 30000, calls: int = 12) -> None:
    """A table without the index its hot query needs, and that query run for real."""
    database.execute("CREATE EXTENSION IF NOT EXISTS hypopg")
    database.execute(f"""
        CREATE TABLE orders (id int PRIMARY KEY, customer_id int, status text, created_at timestamptz);
        INSERT INTO orders SELECT g, g % 3000, (ARRAY['new','paid','done'])[1 + g % 3], now()
          FROM generate_series(1, {rows}) g;
        ANALYZE orders""")
    with database.connect() as conn:
        for i in range(calls):
            conn.execute("SELECT * FROM orders WHERE customer_id = %s", (i,)).fetchall()


def indexes(database, table: str = "orders") -> dict[str, bool]:
    """The table's indexes: name -> valid."""
    return dict(database.execute(
        "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE i.indrelid = %s::regclass", (table,)))


def start(*args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "PERFCHECK_URL")}
    return subprocess.Popen([sys.executable, "-m", "perfcheck", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def wait_for_build(database, phase: str = "waiting for writers", timeout: float = 30) -> int:
    """The pid of a CREATE INDEX in this database once it reaches `phase`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = database.execute("SELECT pid FROM pg_stat_progress_create_index WHERE datname = current_database() "
                                "AND phase LIKE %s", (phase + "%",))
        if rows:
            return rows[0][0]
        time.sleep(0.05)
    raise AssertionError(f"no index build reached {phase!r} within {timeout} s")


def open_writer(database) -> psycopg.Connection:
    """A transaction that has written to the table and stays open: a concurrent build
    waits for it ("waiting for writers before build")."""
    conn = psycopg.connect(database.url)
    conn.execute("UPDATE orders SET status = status WHERE id = 1")
    return conn


def test_audit_apply_reaudit(database, hypopg, tmp_path):
    seed(database)
    audit = perfcheck("audit", "--db", database.url, "--only", "db.missing_indexes", "--format", "json")
    assert audit.code == 0, audit.err
    result = check(audit.json, "db.missing_indexes")
    assert result["status"] in ("warn", "fail") and result["metrics"]["mode"] == "hypopg"
    (finding,) = result["findings"]
    assert finding["object"] == "public.orders (customer_id)"
    assert finding["fix"] == f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON public.orders (customer_id);"
    assert finding["fix_applicability"] == "safe"
    evidence = finding["evidence"]
    assert evidence["verified"] and evidence["cost_after"] < 0.1 * evidence["cost_before"]
    assert evidence["statements"][0]["query"] == "SELECT * FROM orders WHERE customer_id = $1"
    assert evidence["statements"][0]["calls"] == 12 and evidence["size_bytes"] > 0

    dry = perfcheck("apply-indexes", "--db", database.url)
    assert dry.code == 0 and "dry run: nothing was changed" in dry.err
    assert f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON public.orders (customer_id);" in dry.out
    assert "SELECT * FROM orders WHERE customer_id = $1" in dry.out and "estimated size" in dry.out
    migration = tmp_path / "001_indexes.sql"
    written = perfcheck("apply-indexes", "--db", database.url, "--write-migration", str(migration))
    assert written.code == 0 and f"ON public.orders (customer_id);" in migration.read_text()
    assert INDEX not in indexes(database)  # neither the dry run nor the migration touched the database

    applied = perfcheck("apply-indexes", "--db", database.url, "--yes")
    assert applied.code == 0, applied.out + applied.err
    assert f"✔ built public.{INDEX} on public.orders (customer_id)" in applied.out
    assert "planner cost" in applied.out and "→" in applied.out and "summary: 1 built" in applied.out
    assert indexes(database)[INDEX] is True

    again = perfcheck("audit", "--db", database.url, "--only", "db.missing_indexes", "--format", "json")
    assert check(again.json, "db.missing_indexes")["status"] == "pass"
    # perfcheck's own statements (plans, hypothetical indexes, builds) stay out of the workload it judges.
    untagged = database.execute(
        "SELECT query FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND query NOT LIKE '/* perfcheck */%%' AND query NOT LIKE 'CREATE EXTENSION%%' AND (query ~* 'hypopg|perfcheck_whatif|EXPLAIN|CREATE INDEX|advisory')")
    assert untagged == []
    rerun = perfcheck("apply-indexes", "--db", database.url, "--yes")
    assert rerun.code == 0 and "0 index(es) recommended" in rerun.out


def test_without_hypopg_the_advice_is_labelled_unverified(database):
    seed(database)
    database.execute("DROP EXTENSION hypopg")
    audit = perfcheck("audit", "--db", database.url, "--only", "db.missing_indexes", "--format", "json")
    result = check(audit.json, "db.missing_indexes")
    assert result["metrics"]["mode"] == "heuristic" and "UNVERIFIED" in result["summary"]
    (finding,) = result["findings"]
    assert finding["message"].startswith("UNVERIFIED") and finding["evidence"]["verified"] is False
    refused = perfcheck("apply-indexes", "--db", database.url, "--yes")
    assert refused.code == 2 and "UNVERIFIED" in refused.err
    assert INDEX not in indexes(database)
    assert database.execute("SELECT count(*) FROM pg_extension WHERE extname = 'hypopg'") == [(0,)]  # never created


def test_terminated_build_is_reported_and_repaired_by_the_next_run(database, hypopg):
    seed(database)
    before = indexes(database)
    writer = open_writer(database)
    proc = start("apply-indexes", "--db", database.url, "--yes", "--lock-timeout", "30")
    try:
        pid = wait_for_build(database)
        database.execute("SELECT pg_terminate_backend(%s)", (pid,))
    finally:
        writer.rollback()
        writer.close()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, out + err
    assert f"✖ failed public.{INDEX}" in out and "terminated" in out and "next run" in out
    assert indexes(database) == {**before, INDEX: False}  # the INVALID leftover, nothing else

    repaired = perfcheck("apply-indexes", "--db", database.url, "--yes")
    assert repaired.code == 0, repaired.out + repaired.err
    assert f"✔ repaired public.{INDEX}" in repaired.out and "INVALID" in repaired.err
    assert indexes(database) == {**before, INDEX: True}


def test_a_conflicting_lock_is_waited_for_then_skipped_naming_its_pid(database, hypopg):
    seed(database)
    before = indexes(database)
    with psycopg.connect(database.url) as locker:
        locker.execute("LOCK TABLE orders IN SHARE UPDATE EXCLUSIVE MODE")  # what a manual VACUUM holds
        locker_pid = locker.info.backend_pid
        started = time.monotonic()
        run = perfcheck("apply-indexes", "--db", database.url, "--yes", "--lock-timeout", "0.5", "--retries", "2")
        took = time.monotonic() - started
        locker.rollback()
    assert run.code == 1, run.out + run.err
    assert f"✖ skipped public.{INDEX}" in run.out and f"pid {locker_pid}" in run.out
    assert "3 tries" in run.out and "nothing was left behind" in run.out
    assert run.err.count("retrying in") == 2 and took < 30
    assert indexes(database) == before  # no INVALID index


def test_two_deploys_at_once_build_once(database, hypopg):
    seed(database)
    writer = open_writer(database)  # holds the first build long enough for the second to queue
    first = start("apply-indexes", "--db", database.url, "--yes", "--lock-timeout", "30")
    second = None
    try:
        builder = wait_for_build(database)
        second = start("apply-indexes", "--db", database.url, "--yes", "--lock-timeout", "30")
        deadline = time.monotonic() + 30
        while not database.execute("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
                                   "AND application_name = 'perfcheck apply-indexes' AND pid <> %s "
                                   "AND query LIKE '%%advisory%%'", (builder,)):
            assert time.monotonic() < deadline, "the second apply-indexes never asked for the lock"
            time.sleep(0.05)
        time.sleep(0.5)
    finally:
        writer.rollback()
        writer.close()
    out1, err1 = first.communicate(timeout=60)
    out2, err2 = second.communicate(timeout=60)
    assert first.returncode == 0 and second.returncode == 0, (out1, err1, out2, err2)
    assert f"✔ built public.{INDEX}" in out1
    assert f"= exists public.{INDEX}" in out2 and "waiting up to 60 s for another perfcheck apply-indexes" in err2
    assert indexes(database)[INDEX] is True


def test_second_deploy_gives_up_after_its_wait(database, hypopg):
    seed(database)
    with psycopg.connect(database.url, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (0x7065726663686B,))  # as another apply-indexes holds it
        run = perfcheck("apply-indexes", "--db", database.url, "--yes", "--wait", "1")
        assert run.code == 1
        assert f"another perfcheck apply-indexes (pid {other.info.backend_pid})" in run.err and "nothing was built" in run.err
    assert INDEX not in indexes(database)


def test_ctrl_c_stops_cleanly_and_reports(database, hypopg):
    seed(database)
    with database.connect() as conn:  # a second statement, so that two indexes are planned
        for i in range(12):
            conn.execute("SELECT * FROM orders ORDER BY created_at DESC LIMIT 5").fetchall()
    before = indexes(database)
    writer = open_writer(database)
    proc = start("apply-indexes", "--db", database.url, "--yes", "--lock-timeout", "30")
    try:
        wait_for_build(database)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
    finally:
        writer.rollback()  # lets the cleanup's DROP INDEX CONCURRENTLY through
        writer.close()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "✖ interrupted" in out and "its INVALID leftover was dropped" in out
    assert "interrupted: done: nothing; not done: public." in out and "- not started" in out
    assert indexes(database) == before  # nothing half-built left behind


def test_only_limits_the_tables(database, hypopg):
    seed(database)
    run = perfcheck("apply-indexes", "--db", database.url, "--only", "public.no_such_table")
    assert run.code == 0 and "0 index(es) recommended" in run.out and "no recommendation for the table public.no_such_table" in run.out
    run = perfcheck("apply-indexes", "--db", database.url, "--only", "ORDERS")
    assert run.code == 0 and "1 index(es) recommended" in run.out


@pytest.mark.parametrize("args, message", [
    ((), "no database: pass --db URL or set DATABASE_URL"),
    (("--db", "postgresql://nobody:s3cret@127.0.0.1:1/x", "--yes"), "cannot connect"),
    (("--db", "postgresql://127.0.0.1:1/x", "--yes", "--write-migration", "x.sql"), "choose one"),
])
def test_bad_input_is_one_line(args, message):
    run = perfcheck("apply-indexes", *args)
    lines = [line for line in run.err.splitlines() if line.strip() and not line.startswith("analysing")]
    assert run.code == 2 and len(lines) == 1 and message in lines[0] and "s3cret" not in run.err, run.err


def test_python_api_and_an_index_built_since_the_advice(database, hypopg):
    from perfcheck.advisor import advise
    from perfcheck.apply.build import apply

    seed(database)
    advice = advise(database.url)
    assert [r.label for r in advice.recommendations] == ["public.orders (customer_id)"]
    database.execute("CREATE INDEX my_own_idx ON orders (customer_id, status)")  # someone was quicker
    lines: list[str] = []
    result = apply(advice, database.url, events=lines.append)
    (outcome,) = result.outcomes
    assert result.ok and outcome.status == "exists"
    assert outcome.message == "already served by public.my_own_idx, built since the advice was made"
    assert INDEX not in indexes(database) and lines == [f"building public.{INDEX} on public.orders (customer_id)…"]


# --- never harm the target: indexes perfcheck does not own, SIGTERM, who blocks a build -----

def invalid_index(database, statement: str) -> None:
    """Leave `statement`'s index INVALID, as a failed concurrent build does: it times out
    waiting for a writer, after the index is in the catalog."""
    writer = open_writer(database)
    try:
        with database.connect() as conn:
            conn.execute("SET statement_timeout = '300ms'")
            with pytest.raises(psycopg.errors.QueryCanceled):
                conn.execute(statement)
    finally:
        writer.rollback()
        writer.close()


def index_state(database, name: str = INDEX) -> list[tuple]:
    return database.execute("SELECT indisvalid, indisunique, pg_get_indexdef(indexrelid) FROM pg_index "
                            "WHERE indexrelid = to_regclass(%s)", (name,))


def test_another_sessions_concurrent_unique_build_under_the_name_is_left_alone(database, hypopg):
    seed(database)
    writer = open_writer(database)  # holds the other session's build in "waiting for writers"
    other = psycopg.connect(database.url, autocommit=True, application_name="billing-migration")
    errors: list[Exception] = []

    def build() -> None:
        try:
            other.execute(f"CREATE UNIQUE INDEX CONCURRENTLY {INDEX} ON orders (id)")
        except psycopg.Error as exc:
            errors.append(exc)

    thread = threading.Thread(target=build)
    thread.start()
    try:
        pid = wait_for_build(database)
        run, _ = run_bounded("apply-indexes", "--db", database.url, "--yes", "--lock-timeout", "1", "--retries", "0",
                             seconds=60)
        still_building = database.execute("SELECT pid FROM pg_stat_progress_create_index WHERE pid = %s", (pid,))
    finally:
        writer.rollback()
        writer.close()
        thread.join(30)
        other.close()
    assert_clean(run, code=1)
    assert "repaired" not in run.out and f"✖ skipped public.{INDEX}" in run.out, run.out
    assert f"a live session is building it: pid {pid} (application 'billing-migration'" in run.out
    assert still_building == [(pid,)] and errors == []  # not dropped under it: no deadlock, it finished
    assert index_state(database) == [(True, True, f"CREATE UNIQUE INDEX {INDEX} ON public.orders USING btree (id)")]


@pytest.mark.parametrize("statement, comment, why", [
    (f"CREATE UNIQUE INDEX CONCURRENTLY {INDEX} ON orders (status)", None, "its definition is not the one perfcheck would build"),
    (f"CREATE INDEX CONCURRENTLY {INDEX} ON orders (customer_id)", "kept for the incident review", "a comment perfcheck did not write"),
])
def test_a_foreign_invalid_index_under_the_name_is_reported_not_dropped(database, hypopg, statement, comment, why):
    seed(database)
    invalid_index(database, statement)
    if comment:
        database.execute(f"COMMENT ON INDEX {INDEX} IS '{comment}'")
    before = index_state(database)
    assert before and before[0][0] is False
    run, _ = run_bounded("apply-indexes", "--db", database.url, "--yes", seconds=60)
    assert_clean(run, code=1)
    assert f"✖ skipped public.{INDEX}" in run.out and "not perfcheck's to repair" in run.out and why in run.out
    assert (f"DROP INDEX CONCURRENTLY public.{INDEX}; "
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON public.orders (customer_id);") in run.out
    assert index_state(database) == before  # never dropped


def test_dry_run_lists_the_leftovers_it_would_repair_and_those_it_leaves(database, hypopg):
    seed(database)
    with database.connect() as conn:  # a second statement, so that two indexes are planned
        for i in range(12):
            conn.execute("SELECT * FROM orders ORDER BY created_at DESC LIMIT 5").fetchall()
    invalid_index(database, f"CREATE INDEX CONCURRENTLY {INDEX} ON orders (customer_id)")  # as perfcheck builds it
    other = "orders_created_at_idx"
    invalid_index(database, f"CREATE UNIQUE INDEX CONCURRENTLY {other} ON orders (created_at, id)")
    dry, _ = run_bounded("apply-indexes", "--db", database.url, seconds=60)
    assert_clean(dry, code=0)
    assert f"↻ would repair: public.{INDEX}: an INVALID leftover of an earlier perfcheck build" in dry.out, dry.out
    assert f"✖ will not touch: public.{other} is INVALID and not perfcheck's to repair" in dry.out
    assert f"DROP INDEX CONCURRENTLY public.{other};" in dry.out
    assert indexes(database)[INDEX] is False and indexes(database)[other] is False  # the dry run changed nothing

    applied, _ = run_bounded("apply-indexes", "--db", database.url, "--yes", seconds=90)
    assert_clean(applied, code=1)  # one index could not be built
    assert f"✔ repaired public.{INDEX}" in applied.out and f"✖ skipped public.{other}" in applied.out
    assert indexes(database)[INDEX] is True and index_state(database, other)[0][:2] == (False, True)
    assert database.execute("SELECT obj_description(%s::regclass, 'pg_class') LIKE 'perfcheck apply-indexes %%'",
                            (INDEX,)) == [(True,)]  # what perfcheck built carries its mark


def perfcheck_sessions(database) -> list[tuple]:
    """perfcheck's sessions still in the server (a backend exits just after its client)."""
    deadline = time.monotonic() + 5
    while True:
        rows = database.execute("SELECT pid, state, query FROM pg_stat_activity "
                                "WHERE application_name = 'perfcheck apply-indexes'")
        if not rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def test_sigterm_during_a_build_cancels_it_and_cleans_up(database, hypopg):
    seed(database)
    before = indexes(database)
    writer = open_writer(database)
    proc = start("apply-indexes", "--db", database.url, "--yes", "--lock-timeout", "30")
    try:
        wait_for_build(database)
        proc.send_signal(signal.SIGTERM)  # how a deploy system stops a job
        time.sleep(0.3)
    finally:
        writer.rollback()  # lets the cleanup's DROP INDEX CONCURRENTLY through
        writer.close()
    out, err = proc.communicate(timeout=60)
    assert_clean(Run(proc.returncode, out, err), code=143)
    assert "✖ interrupted" in out and "SIGTERM: the build was cancelled" in out and "its INVALID leftover was dropped" in out
    assert indexes(database) == before  # no INVALID index
    assert perfcheck_sessions(database) == []  # no orphaned build in the server
    assert database.execute("SELECT count(*) FROM pg_stat_progress_create_index") == [(0,)]
    assert database.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == [(0,)]


def test_sigterm_while_waiting_for_the_build_lock(database, hypopg):
    seed(database)
    with psycopg.connect(database.url, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (0x7065726663686B,))  # as another apply-indexes holds it
        proc = start("apply-indexes", "--db", database.url, "--yes", "--wait", "30")
        deadline = time.monotonic() + 30
        while not database.execute("SELECT 1 FROM pg_stat_activity WHERE application_name = 'perfcheck apply-indexes' "
                                   "AND query LIKE '%%advisory%%'"):
            assert time.monotonic() < deadline, "apply-indexes never asked for the lock"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert_clean(Run(proc.returncode, out, err), code=143)
    assert "interrupted while waiting for the build lock; nothing was built" in err
    assert INDEX not in indexes(database) and perfcheck_sessions(database) == []


def test_an_idle_in_transaction_blocker_is_named_as_such(database, hypopg):
    seed(database)
    with psycopg.connect(database.url, application_name="nightly-report") as idle:
        idle.execute("UPDATE orders SET status = status WHERE id = 1")  # then the client goes quiet
        time.sleep(1.1)
        run, _ = run_bounded("apply-indexes", "--db", database.url, "--yes", "--lock-timeout", "0.5",
                             "--retries", "0", seconds=60)
        pid = idle.info.backend_pid
        idle.rollback()
    assert_clean(run, code=1)
    assert re.search(rf"pid {pid} \(idle in transaction for [1-9]\d* s[^)]*, application 'nightly-report'", run.out), run.out
    assert INDEX not in indexes(database)


def test_an_index_under_the_name_built_since_the_advice_that_is_another_index_is_not_existing(database, hypopg):
    from perfcheck.advisor import advise
    from perfcheck.apply.build import apply

    seed(database)
    advice = advise(database.url)
    database.execute(f"CREATE UNIQUE INDEX {INDEX} ON orders (id, customer_id)")  # the name, not the job
    (outcome,) = apply(advice, database.url).outcomes
    assert outcome.status == "skipped"
    assert outcome.message.startswith(f"public.{INDEX} exists already but is another index (CREATE UNIQUE INDEX")
    assert index_state(database) == [(True, True, f"CREATE UNIQUE INDEX {INDEX} ON public.orders USING btree (id, customer_id)")]
