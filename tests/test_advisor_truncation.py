"""Expression indexes whose constant pg_stat_statements normalised away (`date_trunc($1, at)`,
`payload->>$1`), recovered from the statistics and the rows per call, verified with HypoPG
on a real PostgreSQL; and the look-alikes where the constant cannot be told, which get no
advice rather than a guess."""

from __future__ import annotations

import pytest
from advisor_schema import advise_one, scratch_session

from perfcheck.advisor import Advice
from perfcheck.advisor.ddl import statements
from perfcheck.apply.build import apply

SCHEMA = r"""
SELECT setseed(0.17);
CREATE EXTENSION IF NOT EXISTS hypopg;
-- One visit a minute for 100,000 minutes: 60 an hour, 1,440 a day, 10,080 a week.
CREATE TABLE visits (id int PRIMARY KEY, at timestamp NOT NULL, at_tz timestamptz NOT NULL, path text);
INSERT INTO visits SELECT g, timestamp '2024-01-01' + g * interval '1 minute',
       timestamptz '2024-01-01' + g * interval '1 minute', '/p/' || (g % 50) FROM generate_series(1, 100000) g;
-- 'k' a different value in every row, 'kind' one of 20.
CREATE TABLE events (id int PRIMARY KEY, payload jsonb NOT NULL);
INSERT INTO events SELECT g, jsonb_build_object('k', 'v' || g, 'kind', 'e' || (g % 20)) FROM generate_series(1, 100000) g;
-- Two keys just as distinct as each other: which one the statement asks cannot be told.
CREATE TABLE twins (id int PRIMARY KEY, payload jsonb NOT NULL);
INSERT INTO twins SELECT g, jsonb_build_object('a', 'a' || g, 'b', 'b' || g) FROM generate_series(1, 100000) g;
"""

TRUNC = "SELECT id, path FROM visits WHERE date_trunc($1, {}) = $2"


@pytest.fixture(scope="module")
def session(pg_server, hypopg):
    yield from scratch_session(pg_server, "truncation", SCHEMA)


def advise(session, query, rows_per_call):
    return advise_one(session, query, queryid=7, rows_per_call=rows_per_call)


def verified(rec):
    for use in rec.statements:
        assert use.cost_after < 0.7 * use.cost_before


@pytest.mark.parametrize("rows_per_call, unit", [(1440, "day"), (55, "hour"), (9000, "week")])
def test_date_trunc_unit_recovered_from_the_rows_per_call(session, rows_per_call, unit):
    advice = advise(session, TRUNC.format("at"), rows_per_call)
    [rec] = advice.recommendations
    assert rec.keys == [f"(date_trunc(CAST('{unit}' AS text), at))"]
    verified(rec)
    [use] = rec.statements
    assert use.recovered == {"$1": f"'{unit}'"} and f"date_trunc('{unit}', at) = $2" in use.query
    assert statements(rec)[0].endswith(f"ON public.visits ((date_trunc(CAST('{unit}' AS text), at)))")


def test_no_advice_when_the_rows_per_call_fit_no_unit(session):
    """300 rows per call: five times an hour's, a fifth of a day's; neither unit is the one."""
    advice = advise(session, TRUNC.format("at"), 300)
    assert advice.recommendations == []
    assert list(advice.unrecovered) == ["date_trunc($n, …): no unit of hour, day, week, month fits the rows per call"]


def test_no_advice_for_date_trunc_of_timestamptz(session):
    """date_trunc(text, timestamptz) depends on the session's time zone: it cannot be indexed."""
    advice = advise(session, TRUNC.format("at_tz"), 1440)
    assert advice.recommendations == [] and "timestamptz" in next(iter(advice.unrecovered))


def test_json_key_recovered_from_the_sampled_documents(session):
    advice = advise(session, "SELECT id FROM events WHERE (payload->>$1) = $2", 1)
    [rec] = advice.recommendations
    assert rec.keys == ["(payload ->> CAST('k' AS text))"]  # the key of the literal-key test in test_advisor_kinds
    verified(rec)
    assert rec.statements[0].recovered == {"$1": "'k'"}


def test_no_json_advice_when_the_rows_per_call_fit_no_key(session):
    """25,000 rows per call: more than the unique key's values and than the twenty kinds' ever give."""
    advice = advise(session, "SELECT id FROM events WHERE (payload->>$1) = $2", 25000)
    assert advice.recommendations == [] and advice.unrecovered


def test_no_json_advice_when_two_keys_fit_alike(session):
    advice = advise(session, "SELECT id FROM twins WHERE (payload->>$1) = $2", 1)
    assert advice.recommendations == []
    assert list(advice.unrecovered.values()) == [1]


def test_the_recovered_index_serves_the_statement_once_built(session, pg_server):
    """Built for real (apply-indexes' own path), the index is used by the statement as the
    application runs it, with the recovered unit: its planner cost falls as HypoPG said."""
    [rec] = advise(session, TRUNC.format("at"), 1440).recommendations
    url = pg_server.url_for(session.conn.info.dbname)
    try:
        [outcome] = apply(Advice(mode="hypopg", recommendations=[rec]), url).outcomes
        assert outcome.status == "built", outcome.message
        assert outcome.cost_after is not None and outcome.cost_after < 0.7 * outcome.cost_before
    finally:
        pg_server.psql(f"DROP INDEX IF EXISTS {rec.name}", database=session.conn.info.dbname)
