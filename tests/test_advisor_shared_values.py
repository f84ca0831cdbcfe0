"""Value sets shared across statements on the same column (advisor/shared_values.py), on a
real PostgreSQL with HypoPG. An aggregate's rows per call say nothing about the values it
was sent; another statement filtering the same column with telling rows does."""

from __future__ import annotations

import pytest
from advisor_schema import HYPOPG, scratch_session

from perfcheck.advisor import Options, analyse

SCHEMA = r"""
SELECT setseed(0.31);
CREATE EXTENSION IF NOT EXISTS hypopg;
CREATE TABLE alerts (id int PRIMARY KEY, status text NOT NULL, host text NOT NULL, raised_at timestamptz NOT NULL);
INSERT INTO alerts SELECT g, CASE WHEN g % 1000 = 0 THEN 'failed' WHEN g % 9 = 0 THEN 'muted' ELSE 'ok' END,
       'h' || (g % 300), now() - g * interval '1 second' FROM generate_series(1, 200000) g;
"""

LIST = "SELECT * FROM alerts WHERE status = $1 ORDER BY raised_at DESC"
COUNT = "SELECT count(*) FROM alerts WHERE status = $1 AND host = $2"


@pytest.fixture(scope="module")
def session(pg_server, hypopg):
    yield from scratch_session(pg_server, "shared", SCHEMA)


def row(queryid, query, rows_per_call, calls=100, mean_ms=20.0):
    return {"queryid": queryid, "query": query, "calls": calls, "rows": int(calls * rows_per_call),
            "total_ms": calls * mean_ms}


def count_use(advice):
    """The aggregate's statement use on each recommendation that serves it."""
    return {(tuple(r.keys), r.where): u for r in advice.recommendations for u in r.statements if u.query == COUNT}


def test_an_aggregate_takes_the_values_another_statement_on_its_column_asks_for(session):
    """The list gets 200 rows per call: the application asks for 'failed' (200 of 200,000
    rows). The count, one row per call whatever the status, is planned with 'failed' only,
    not half its calls with 'ok': no index for a status the application never counts."""
    advice = analyse(session, [row(1, LIST, 200), row(2, COUNT, 1)], HYPOPG, Options.from_thresholds({}))
    uses = count_use(advice)
    assert uses, "the aggregate gets an index"
    for (keys, where), use in uses.items():
        assert all(values[0] == "'failed'" for values in use.values), (keys, where, use.values)
        assert use.share == 1.0
    assert not [r for r in advice.recommendations if r.keys == ["host"] and r.where is None]


def test_without_a_telling_statement_the_aggregate_keeps_its_even_split(session):
    """The same aggregate alone: nothing says which status it is sent, so both the common
    and the rare value are planned, half the calls each, as before."""
    advice = analyse(session, [row(2, COUNT, 1)], HYPOPG, Options.from_thresholds({}))
    statuses = {values[0] for use in count_use(advice).values() for values in use.values or []}
    assert "'ok'" in statuses and "'failed'" in statuses

