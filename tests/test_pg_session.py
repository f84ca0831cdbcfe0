"""perfcheck's PostgreSQL session (perfcheck.pg.session), on the suite's real server: how a
session is set up, how named queries are tagged, and error lines that never carry the
URL's password. pg_stat_statements' rows as the collector and the advisor both read them."""

from __future__ import annotations

import psycopg
import pytest

from perfcheck.config import DEFAULTS
from perfcheck.demo.sandbox import free_port
from perfcheck.errors import TargetError
from perfcheck.pg import queries
from perfcheck.pg.names import OWN_TAG
from perfcheck.pg.session import Session, describe_error
from perfcheck.pg.stat_statements import ENABLE_PG_STAT_STATEMENTS, NotAvailable

SECRET = "hunter2-s3cret"
COLLECTOR_SQL = "perfcheck.collectors.postgres"


def test_the_session_is_named_read_only_and_bounded(database):
    with Session.open(database.url, DEFAULTS["postgres"], COLLECTOR_SQL) as session:
        row = session.rows("settings_now", text="SELECT current_setting('application_name') AS app, "
                           "current_setting('transaction_read_only') AS ro, current_setting('statement_timeout') AS st, "
                           "current_setting('lock_timeout') AS lt, current_setting('jit') AS jit")[0]
        assert row == {"app": "perfcheck", "ro": "on", "st": "5s", "lt": "1s", "jit": "off"}
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            session.rows("write", text="CREATE TABLE t (a int)")


def test_named_queries_come_from_the_package_and_carry_the_tag(database):
    with Session.open(database.url, DEFAULTS["postgres"], COLLECTOR_SQL) as session:
        text = session.text("server")
        assert text.startswith(OWN_TAG) and text.endswith(OWN_TAG)
        assert session.rows("server")[0]  # dict rows
        advisor = session.using("perfcheck.advisor")
        assert advisor.conn is session.conn and advisor.text("relations").startswith(OWN_TAG)


def test_rows_are_psycopgs_dict_rows_with_equal_strings_shared(database):
    text = ("SELECT 'tenant' || (i %% 2) AS schema, 't' || i AS name, ARRAY['id', 'account_id'] AS columns, "
            "ARRAY[1, 2] AS attnums, i AS n, NULL::text AS predicate FROM generate_series(1, 4) i")
    with Session.open(database.url, DEFAULTS["postgres"], COLLECTOR_SQL) as session:
        rows = session.rows("shared", text=text)
        with session.conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
            assert rows == cur.execute(text, {}).fetchall()  # the same values, types and keys
    assert rows[0]["schema"] is rows[2]["schema"] and rows[0]["columns"][1] is rows[3]["columns"][1]
    assert rows[0]["columns"] is not rows[1]["columns"]  # lists stay each row's own


def test_a_connection_error_is_one_line_without_the_password(pg_server):
    for url in (pg_server.url_for("no_such_db", password=SECRET),
                f"postgresql://app:{SECRET}@127.0.0.1:{free_port()}/app"):
        with pytest.raises(TargetError) as caught:
            Session.open(url, DEFAULTS["postgres"], COLLECTOR_SQL)
        message = str(caught.value)
        assert message.startswith("postgres: cannot connect to ") and "\n" not in message
        assert SECRET not in message


def test_a_failed_query_is_one_line_without_secrets(database):
    with Session.open(database.url, DEFAULTS["postgres"], COLLECTOR_SQL) as session:
        with pytest.raises(psycopg.Error) as caught:
            session.rows("bad", text=f"SELECT * FROM no_such_table_{SECRET.replace('-', '_')}")
        line = describe_error(caught.value, [SECRET.replace("-", "_")])
        assert line and "\n" not in line and SECRET.replace("-", "_") not in line
        assert describe_error(ValueError("not a database error"), []) is None


def test_statements_are_read_once_the_extension_is_there(database):
    with Session.open(database.url, DEFAULTS["postgres"], COLLECTOR_SQL) as session:
        installed = queries.extensions(session)
        assert "pg_stat_statements" in installed
        session.rows("own", text=f"{OWN_TAG} SELECT 1")
        rows = queries.statements(session, installed, 100)
        assert all(not row["query"].startswith(OWN_TAG) for row in rows)  # perfcheck's own left out
        with pytest.raises(NotAvailable) as caught:
            queries.statements(session, {}, 100)
        assert ENABLE_PG_STAT_STATEMENTS in str(caught.value)
