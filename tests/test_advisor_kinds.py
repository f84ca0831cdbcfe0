"""Candidate kinds beyond plain btree keys, each on a workload whose best index is of that
kind, verified by cost with HypoPG on a real PostgreSQL: a partial index for a rare value,
text_pattern_ops for a LIKE prefix under a non-C collation, one index per arm of an OR,
INCLUDE for an index-only scan, expression indexes. And the look-alikes that must not get them."""

from __future__ import annotations

import pytest
from advisor_schema import advise_one, scratch_session

from perfcheck.advisor.ddl import statements

SCHEMA = r"""
SELECT setseed(0.23);
CREATE EXTENSION IF NOT EXISTS hypopg;
CREATE TABLE alerts (id int PRIMARY KEY, status text NOT NULL, host text, raised_at timestamptz);
INSERT INTO alerts SELECT g, CASE WHEN g % 1000 = 0 THEN 'failed' WHEN g % 7 = 0 THEN 'muted' ELSE 'ok' END,
       'h' || (g % 50), now() - g * interval '1 second' FROM generate_series(1, 100000) g;
CREATE TABLE people (id int PRIMARY KEY, name text COLLATE "en-x-icu" NOT NULL, city text);
INSERT INTO people SELECT g, md5(g::text), 'c' || (g % 300) FROM generate_series(1, 100000) g;
CREATE TABLE contacts (id int PRIMARY KEY, email text, phone text, note text);
INSERT INTO contacts SELECT g, 'u' || g || '@example.com', '+33' || (600000000 + g), repeat('n', 40)
  FROM generate_series(1, 100000) g;
CREATE TABLE events (id int PRIMARY KEY, payload jsonb NOT NULL, ts timestamptz NOT NULL);
INSERT INTO events SELECT g, jsonb_build_object('k', 'v' || g, 'kind', 'e' || (g % 20)),
       now() - g * interval '1 minute' FROM generate_series(1, 100000) g;
CREATE TABLE ledger (id int PRIMARY KEY, account_id int NOT NULL, amount int NOT NULL, memo text);
INSERT INTO ledger SELECT g, (random() * 999)::int, g % 500, repeat('m', 200) FROM generate_series(1, 100000) g;
"""


@pytest.fixture(scope="module")
def session(pg_server, hypopg):
    yield from scratch_session(pg_server, "kinds", SCHEMA)


def advise(session, query, *, rows_per_call, calls=100, mean_ms=20.0):
    return advise_one(session, query, queryid=9, rows_per_call=rows_per_call, calls=calls, mean_ms=mean_ms)


def verified(rec):
    for use in rec.statements:
        assert use.cost_after < 0.7 * use.cost_before


def test_partial_index_for_a_rare_value(session):
    advice = advise(session, "SELECT * FROM alerts WHERE status = $1", rows_per_call=100)
    [rec] = advice.recommendations
    assert rec.where == "status = 'failed'" and rec.keys == ["status"]
    verified(rec)
    assert statements(rec)[0].endswith("(status) WHERE status = 'failed'")
    assert rec.size_bytes < 200_000  # 100 rows, not 100,000


def test_no_partial_index_for_an_evenly_spread_value(session):
    """ledger.account_id: a thousand values about as common as each other: the application
    asks for any of them, a partial index for one would serve one account."""
    advice = advise(session, "SELECT * FROM ledger WHERE account_id = $1", rows_per_call=100)
    [rec] = advice.recommendations
    assert rec.keys == ["account_id"] and rec.where is None


def test_text_pattern_ops_for_a_like_prefix(session):
    advice = advise(session, "SELECT id FROM people WHERE name LIKE $1", rows_per_call=25)
    [rec] = advice.recommendations
    assert rec.keys == ["name text_pattern_ops"]
    verified(rec)


def test_one_index_per_or_arm(session):
    advice = advise(session, "SELECT id, note FROM contacts WHERE email = $1 OR phone = $2", rows_per_call=2)
    assert sorted((r.keys[0], r.where) for r in advice.recommendations) == [("email", None), ("phone", None)]
    for rec in advice.recommendations:
        verified(rec)


def test_expression_index_for_lower_of_a_column(session):
    """`lower(email) = $1`: a btree on email cannot serve it, one on (lower(email)) can
    (the base candidates already take an expression over columns as a key)."""
    advice = advise(session, "SELECT id FROM contacts WHERE lower(email) = $1", rows_per_call=1)
    [rec] = advice.recommendations
    assert rec.keys == ["(lower(email))"]
    verified(rec)


def test_expression_index_for_a_json_key_kept_as_a_literal(session):
    """`(payload->>'k') = $1` when the application sent the key as a literal."""
    advice = advise(session, "SELECT id FROM events WHERE (payload->>'k') = $1", rows_per_call=1)
    [rec] = advice.recommendations
    assert rec.keys == ["(payload ->> CAST('k' AS text))"]
    verified(rec)


def test_no_expression_index_when_its_constant_was_normalised_away(session):
    """pg_stat_statements turned the unit into $1, on a timestamptz column whose date_trunc
    cannot be indexed (it depends on the time zone): nothing is recommended rather than a
    guess. Where the constant can be recovered it is: test_advisor_truncation.py."""
    advice = advise(session, "SELECT id FROM events WHERE date_trunc($1, ts) = $2", rows_per_call=1)
    assert advice.recommendations == [] and advice.unrecovered


def test_no_btree_for_jsonb_containment(session):
    """`payload @> $1` needs GIN, which HypoPG 1.3 cannot simulate ("access method gin is
    not supported"): no btree is offered in its place, only the GIN, labelled unverified
    (test_advisor_methods.py)."""
    recs = advise(session, "SELECT id FROM events WHERE payload @> $1", rows_per_call=5).recommendations
    assert [(r.method, r.verified) for r in recs] == [("gin", False)]


def test_include_for_an_index_only_scan(session):
    visible = session.conn.execute("SELECT relallvisible FROM pg_class WHERE relname = 'ledger'").fetchone()
    # The planner prices an index-only scan by the table's all-visible pages (see the fixture).
    assert (visible["relallvisible"] if isinstance(visible, dict) else visible[0]) > 0
    advice = advise(session, "SELECT amount FROM ledger WHERE account_id = $1", rows_per_call=100)
    [rec] = advice.recommendations
    assert rec.keys == ["account_id"] and rec.include == ["amount"]
    verified(rec)
    assert "INCLUDE (amount)" in statements(rec)[0]


def test_no_include_for_select_star(session):
    advice = advise(session, "SELECT * FROM ledger WHERE account_id = $1", rows_per_call=100)
    assert [r.include for r in advice.recommendations] == [[]]
