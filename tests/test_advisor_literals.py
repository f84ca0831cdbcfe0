"""Every statement plannable: typed literals that pg_stat_statements normalises into text
that does not parse (`now() - interval $2`, `date $1`) are rewritten as casts; the
rewrite is checked alone (pure text) and end to end on the statements a real
pg_stat_statements stores."""

from __future__ import annotations

import pytest

from perfcheck.advisor import Options, analyse
from perfcheck.advisor.analyse import SQL_PACKAGE
from perfcheck.advisor.literals import rewrite, with_types
from perfcheck.collectors.postgres.collector import PostgresCollector
from perfcheck.config import DEFAULTS
from perfcheck.pg.session import Session

HYPOPG = {"hypopg": {"schema": "public", "version": "1.3.1"}}


@pytest.mark.parametrize("query, expected", [
    ("SELECT * FROM plays WHERE played_at > now() - interval $2 AND x = $1",
     "SELECT * FROM plays WHERE played_at > now() - $2::interval AND x = $1"),
    ("SELECT 1 FROM t WHERE d = date $1 AND ts < timestamp with time zone $2 AND t2 = timestamp $3",
     "SELECT 1 FROM t WHERE d = $1::date AND ts < $2::timestamp with time zone AND t2 = $3::timestamp"),
    ("SELECT 1 FROM t WHERE x = pg_catalog.date $1 AND y = double precision $2 AND j @> jsonb $3",
     "SELECT 1 FROM t WHERE x = $1::pg_catalog.date AND y = $2::double precision AND j @> $3::jsonb"),
    ("SELECT 1 FROM t WHERE a > now() - $1 AND b < current_date + $2::int",
     "SELECT 1 FROM t WHERE a > now() - $1::interval AND b < current_date + $2::int"),
])
def test_typed_literals_become_casts(query, expected):
    assert rewrite(query) == expected


@pytest.mark.parametrize("query", [
    "SELECT ts AT TIME ZONE $1 FROM t",  # a time zone, not a type
    "SELECT 1 FROM t WHERE s = 'interval $1' AND a = $2 LIMIT $3 OFFSET $4",  # inside a string; keywords
    "SELECT 1 FROM t WHERE a IS DISTINCT FROM $1 AND b IN ($2, $3) AND c BETWEEN $4 AND $5",
    "SELECT 1 FROM t -- interval $1\nWHERE a = $2",
])
def test_nothing_else_is_touched(query):
    assert rewrite(query) == query


def test_an_untyped_parameter_is_declared_text():
    assert with_types("SELECT 1 FROM t WHERE $1 IS NULL", "could not determine data type of parameter $1") == \
        "SELECT 1 FROM t WHERE $1::text IS NULL"
    assert with_types("SELECT 1 FROM t WHERE a = $1", "syntax error at or near") is None


@pytest.fixture
def plays(database, hypopg):
    database.execute("CREATE EXTENSION IF NOT EXISTS hypopg")
    database.execute("""
        CREATE TABLE plays (id int PRIMARY KEY, track_id int, played_at timestamptz, played_on date);
        INSERT INTO plays SELECT g, g % 5000, now() - g * interval '10 minutes', (now() - g * interval '10 minutes')::date
          FROM generate_series(1, 40000) g;
        ANALYZE plays""")
    with database.connect() as conn:
        for _ in range(12):
            conn.execute("SELECT count(*) FROM plays WHERE played_at > now() - interval '1 hour'").fetchall()
            conn.execute("SELECT id FROM plays WHERE played_on = date '2024-03-01' AND track_id = 7").fetchall()
            conn.execute("SELECT id FROM plays WHERE track_id = 12 AND played_at < timestamp with time zone "
                         "'2020-01-01 00:00+00'").fetchall()
    return database


def test_normalised_typed_literals_are_analysed_not_skipped(plays):
    collector = PostgresCollector(plays.url, DEFAULTS["postgres"], [])
    facts = collector.gather({"postgres.statements", "postgres.extensions"})
    rows = [r for r in facts["postgres.statements"] if "plays" in r["query"]]
    assert any("interval $" in r["query"] for r in rows)  # what pg_stat_statements keeps: it does not parse
    session = Session.open(plays.url, DEFAULTS["postgres"], SQL_PACKAGE)
    try:
        advice = analyse(session, rows, HYPOPG, Options.from_thresholds({"min_mean_ms": 0, "min_calls": 5}))
    finally:
        session.close()
    assert advice.statements_analysed == 3, advice.skipped
    assert advice.statements_rewritten == 3
    assert advice.unplannable == 0
    assert not any("cannot be" in reason for reason in advice.skipped)
