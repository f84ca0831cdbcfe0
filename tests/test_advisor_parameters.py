"""Representative parameters: statements planned with values drawn from pg_stats, as the
application runs them (a rare value, a recent range), on a real PostgreSQL with HypoPG.
The value sets' shares follow the rows per call pg_stat_statements recorded."""

from __future__ import annotations

import pytest
from advisor_schema import advise_one, scratch_session

from perfcheck.advisor.parameters import param_uses, shares

SCHEMA = r"""
SELECT setseed(0.17);
CREATE EXTENSION IF NOT EXISTS hypopg;
CREATE TABLE alerts (id int PRIMARY KEY, status text NOT NULL, host text, raised_at timestamptz);
INSERT INTO alerts SELECT g, CASE WHEN g % 1000 = 0 THEN 'failed' ELSE 'ok' END, 'h' || (g % 50),
       now() - g * interval '1 second' FROM generate_series(1, 100000) g;
CREATE TABLE plays (id int PRIMARY KEY, track_id int, played_at timestamptz NOT NULL, listener text);
INSERT INTO plays SELECT g, (random() * 4999)::int, now() - g * interval '1 minute', 'l' || (g % 700)
  FROM generate_series(1, 200000) g;
"""


@pytest.fixture(scope="module")
def session(pg_server, hypopg):
    yield from scratch_session(pg_server, "params", SCHEMA)


def advise(session, query, *, rows_per_call, calls=100, mean_ms=20.0):
    return advise_one(session, query, queryid=7, rows_per_call=rows_per_call, calls=calls, mean_ms=mean_ms)


def test_parameters_are_found_by_column():
    uses = param_uses("SELECT * FROM plays p WHERE p.played_at > now() - $1::interval AND $2 < track_id LIMIT $3")
    assert {(u.number, u.alias, u.column, u.op) for u in uses} == {
        (1, "p", "played_at", "recent"), (2, None, "track_id", ">"), (3, None, "", "limit")}


def test_shares_follow_the_recorded_rows():
    assert shares([100.0, 99900.0], 100.0) == [1.0, 0.0]
    assert shares([100.0, 99900.0], 99900.0) == [0.0, 1.0]
    low, high = shares([100.0, 1100.0], 600.0)
    assert abs(low - 0.5) < 1e-9 and abs(high - 0.5) < 1e-9
    assert shares([1.0, 1.0, 1.0], 1.0) == [1 / 3] * 3  # an aggregate: rows tell nothing
    assert shares([3000.0, 9000.0], 1.0) is None  # not the application's values: generic plan


def test_a_rare_value_gets_its_index(session):
    """status = 'failed' is 0.1 % of the rows: a generic plan sees an average value (half
    the table) and no index pays; the application's 100 rows per call say it asks for the rare one."""
    advice = advise(session, "SELECT * FROM alerts WHERE status = $1", rows_per_call=100)
    [rec] = advice.recommendations
    assert (rec.qualified_table, rec.keys[0]) == ("public.alerts", "status")
    [use] = rec.statements
    assert use.values == [["'failed'"]] and use.share == 1.0
    assert use.cost_after < 0.7 * use.cost_before


def test_the_common_value_gets_none(session):
    advice = advise(session, "SELECT * FROM alerts WHERE status = $1", rows_per_call=99900)
    assert advice.recommendations == []
    assert advice.statements_analysed == 1


def test_a_recent_range_gets_its_index(session):
    """`played_at > now() - interval '1 hour'` as pg_stat_statements keeps it (it does not
    parse): rewritten, then planned for an hour, a day and 30 days of 139 days of plays."""
    advice = advise(session, "SELECT count(*) FROM plays WHERE played_at > now() - interval $1", rows_per_call=1)
    assert advice.unplannable == 0 and advice.statements_rewritten == 1
    [rec] = advice.recommendations
    assert (rec.qualified_table, rec.keys) == ("public.plays", ["played_at"])
    [use] = rec.statements
    assert ["'1 hour'"] in use.values and 0 < use.share <= 1
    assert use.cost_after < 0.7 * use.cost_before


def test_a_newest_values_range(session):
    advice = advise(session, "SELECT id, track_id FROM plays WHERE played_at >= $1 ORDER BY played_at", rows_per_call=1000)
    assert [(r.qualified_table, r.keys[0]) for r in advice.recommendations] == [("public.plays", "played_at")]
    assert advice.recommendations[0].statements[0].values
