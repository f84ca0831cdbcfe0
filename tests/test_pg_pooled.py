"""perfcheck's own statements through a real PgBouncer in transaction mode (issue 12): each
carries perfcheck's statement and lock timeouts (SET LOCAL in a transaction of its own),
and the pooler's server connections are left as they were found: the next client through
the pooler sees the server's defaults, no prepared statement, no open transaction. With a
pool of one server connection, every client below meets the connection perfcheck used."""

from __future__ import annotations

import time

import psycopg
import pytest

from helpers import check, perfcheck, unavailable
from pgbouncer import PgBouncer, pgbouncer_binary
from perfcheck.config import DEFAULTS
from perfcheck.pg.session import Session, describe_error

COLLECTOR_SQL = "perfcheck.collectors.postgres"
DEFAULTS_SEEN = ("SELECT current_setting('statement_timeout') AS st, current_setting('lock_timeout') AS lt, "
                 "current_setting('idle_in_transaction_session_timeout') AS idle, current_setting('jit') AS jit, "
                 "current_setting('transaction_read_only') AS ro, current_setting('plan_cache_mode') AS pcm, "
                 "(SELECT count(*) FROM pg_prepared_statements) AS prepared, pg_backend_pid() AS pid")


@pytest.fixture
def one_connection_pool(pg_server):
    if not pgbouncer_binary():
        unavailable("PgBouncer is not installed: apt-get install -y pgbouncer")
    bouncer = PgBouncer(pg_server.port, pg_server.user, pool_size=1).start()
    yield bouncer
    bouncer.stop()


def server_defaults(database) -> dict:
    with psycopg.connect(database.url, autocommit=True) as conn:
        names = [c.name for c in conn.execute(DEFAULTS_SEEN).description]
        return dict(zip(names, conn.execute(DEFAULTS_SEEN).fetchone()))


def seen_through(url: str) -> dict:
    """What a fresh client of the pooler sees (without the pid: the same backend is expected)."""
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(DEFAULTS_SEEN)
        row = dict(zip([c.name for c in cur.description], cur.fetchone()))
    return row


def test_a_slow_statement_is_cancelled_at_perfcheck_timeout_and_nothing_stays(database, one_connection_pool):
    url = one_connection_pool.url_for(database.name)
    expected = {k: v for k, v in server_defaults(database).items() if k != "pid"}
    options = {**DEFAULTS["postgres"], "statement_timeout_ms": 700, "lock_timeout_ms": 300}
    with Session.open(url, options, COLLECTOR_SQL) as session:
        inside = session.rows("limits", text="SELECT current_setting('statement_timeout') AS st, "
                              "current_setting('lock_timeout') AS lt, current_setting('transaction_read_only') AS ro")[0]
        assert inside == {"st": "700ms", "lt": "300ms", "ro": "on"}
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled) as caught:
            session.rows("slow", text="SELECT pg_sleep(30)")
        assert time.monotonic() - started < 10  # cancelled at 0.7 s; the margin is for a loaded machine
        assert describe_error(caught.value, []) == "the catalog query was cancelled by perfcheck's statement_timeout"
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            session.rows("write", text="CREATE TABLE t (a int)")
        # A PREPARE whose next statement fails outlives its rollback; perfcheck's is deallocated.
        with pytest.raises(psycopg.errors.DivisionByZero):
            session.rows("prepared", text="/* perfcheck */ PREPARE perfcheck_probe AS SELECT 1; SELECT 1 / 0")
        assert session.rows("after", text="SELECT 1 AS one") == [{"one": 1}]  # the session goes on
        # While perfcheck's session is open, the pooler's one server connection serves others.
        seen = seen_through(url)
        assert {k: v for k, v in seen.items() if k != "pid"} == expected, seen
    after = seen_through(url)
    assert {k: v for k, v in after.items() if k != "pid"} == expected, after
    assert after["pid"] == seen["pid"]  # the very connection perfcheck's statements ran on


def test_pinned_statements_share_one_backend_and_survive_a_failure(database, one_connection_pool):
    url = one_connection_pool.url_for(database.name)
    expected = {k: v for k, v in server_defaults(database).items() if k != "pid"}
    with Session.open(url, {**DEFAULTS["postgres"], "statement_timeout_ms": 700}, COLLECTOR_SQL) as session:
        with session.pinned():
            session.conn.execute("SET plan_cache_mode = force_generic_plan")  # as the advisor does
            with pytest.raises(psycopg.errors.UndefinedTable):
                session.rows("bad", text="SELECT * FROM no_such_table")
            with pytest.raises(psycopg.errors.QueryCanceled):
                session.rows("slow", text="SELECT pg_sleep(30)")
            # The failures undid themselves only: the SET before them holds, on the same backend.
            row = session.rows("still", text="SELECT current_setting('plan_cache_mode') AS pcm, "
                               "current_setting('statement_timeout') AS st")[0]
            assert row == {"pcm": "force_generic_plan", "st": "700ms"}
        seen = seen_through(url)
    assert {k: v for k, v in seen.items() if k != "pid"} == expected, seen


def test_an_audit_with_the_advisor_through_the_pooler_leaves_nothing_behind(database, one_connection_pool, hypopg):
    database.execute("CREATE EXTENSION hypopg")
    database.execute("CREATE TABLE plays (id bigserial PRIMARY KEY, user_id int, song_id int, at timestamptz);"
                     "INSERT INTO plays (user_id, song_id, at) SELECT g % 5000, g % 700, now() - g * interval '1 s' "
                     "FROM generate_series(1, 100000) g; ANALYZE plays")
    with psycopg.connect(database.url, autocommit=True) as conn:
        for user in range(200):
            conn.execute("SELECT song_id FROM plays WHERE user_id = %s", (user,))
    url = one_connection_pool.url_for(database.name)
    expected = {k: v for k, v in server_defaults(database).items() if k != "pid"}
    run = perfcheck("audit", "--db", url, "--only", "db.missing_indexes", "--only", "db.pool", "--format", "json")
    assert run.code in (0, 1), run.err
    advice = check(run.json, "db.missing_indexes")
    assert advice["status"] in ("warn", "fail"), advice
    fixes = " ".join(f["fix"] or "" for f in advice["findings"])
    assert "ON public.plays (user_id" in fixes, advice["findings"]
    assert check(run.json, "db.pool")["metrics"]["pool_mode"] == "transaction"
    after = seen_through(url)
    assert {k: v for k, v in after.items() if k != "pid"} == expected, after
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM hypopg_list_indexes").fetchone()[0] == 0
